package workflow

import (
	"sort"

	"github.com/cairn-dev/cairn/journal"
	"github.com/cairn-dev/cairn/playbooks"
)

// Redacted is how the journal holds the value of a secret parameter.
const Redacted = playbooks.Redacted

// ResumeValues rebuilds a run's parameter values: the journaled ones, then the
// params file, then -p, in rising precedence. Secrets are not in the journal,
// so each must be given again.
func ResumeValues(pb *playbooks.Playbook, run journal.Run, set map[string]string, file map[string]any) (playbooks.Values, error) {
	declared := map[string]bool{}
	for _, p := range pb.Params {
		declared[p.Name] = true
	}
	merged := map[string]string{}
	var missing []string
	for k, v := range run.Params {
		_, inFile := file[k]
		_, inSet := set[k]
		switch {
		case !declared[k] || inFile || inSet:
		case v == Redacted:
			missing = append(missing, k)
		default:
			merged[k] = v
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return nil, &MissingSecretsError{RunID: run.ID, Names: missing}
	}
	for k, v := range set {
		merged[k] = v
	}
	return playbooks.Resolve(pb, merged, file)
}
