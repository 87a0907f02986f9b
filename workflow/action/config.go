// Package action is what cairn's commands do, without the command line: it
// owns the configuration (journal, cluster access, step registry, logger,
// clock, who is acting) and offers run, resume, rollback, approve, plan and
// the audit reads. It resolves playbooks, refuses a journaled run that does
// not verify, and connects to the cluster only when a command needs it.
// cmd/cairn turns flags into options, calls an action and renders the
// result; as helm's pkg/action does for helm.
package action

import (
	"context"
	"os"
	"os/user"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/cairn-dev/cairn/journal"
	"github.com/cairn-dev/cairn/runlog"
	"github.com/cairn-dev/cairn/steps"
	"github.com/cairn-dev/cairn/steps/cluster"
	"github.com/cairn-dev/cairn/steps/kube"
	"github.com/cairn-dev/cairn/workflow"
)

// Config is what every action is built from.
type Config struct {
	// JournalPath is the journal file; "" means journal.DefaultPath().
	JournalPath string
	// Cluster reaches the cluster; its clients are built on first use.
	Cluster *cluster.Access
	Log     zerolog.Logger
	Now     func() time.Time
	// User and Host identify who acts, for the audit; Version is cairn's.
	User, Host string
	Version    string
	// OnUpdate and OnProgress receive a run's state changes and the
	// progress of long steps (see workflow.Engine).
	OnUpdate   func(workflow.Update)
	OnProgress func(step, item, msg string)
	// OnOutput receives each line of output of a running exec step, or
	// of its undo or check action (phase), redacted (see workflow.Engine).
	OnOutput func(step, item, phase, stream, line string)
	// ToolDir is where the private kubeconfig for tools is written;
	// "" means the system's temporary directory.
	ToolDir string

	regOnce sync.Once
	reg     *steps.Registry
}

// Identity returns the OS user and host name, for Config.User and Host.
func Identity() (string, string) {
	name := os.Getenv("USER")
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	host, _ := os.Hostname()
	return name, host
}

func (c *Config) now() time.Time {
	if c.Now == nil {
		return time.Now()
	}
	return c.Now()
}

// Registry is every step kind and item source cairn has. Kubernetes kinds
// build their clients the first time a step of theirs runs, so validate and
// plan never load a kubeconfig.
func (c *Config) Registry() *steps.Registry {
	c.regOnce.Do(func() {
		reg := steps.NewRegistry(steps.Deps{Logger: c.Log, Now: c.now})
		clients := c.Cluster.Clients
		for _, k := range kube.Kinds(clients) {
			mustRegister(reg.Add(k))
		}
		for _, k := range kube.Sources(clients) {
			mustRegister(reg.AddSource(k))
		}
		c.reg = reg
	})
	return c.reg
}

// mustRegister panics on a name clash: the kinds are fixed at compile time,
// so a clash is a bug every command trips over at once.
func mustRegister(err error) {
	if err != nil {
		panic(err)
	}
}

// JournalFile is the journal's path: JournalPath, else the default.
func (c *Config) JournalFile() (string, error) {
	if c.JournalPath != "" {
		return c.JournalPath, nil
	}
	return journal.DefaultPath()
}

// OpenJournal opens the configured journal; readers never wait for a run.
// A commit held up by another process (a suspended reader, say) is logged
// as a warning and waited out until ctx ends, rather than failing a step of
// a long run; what the journal wants the user to know (a migration, a
// re-initialised empty file) is logged at info level.
func (c *Config) OpenJournal(ctx context.Context, readOnly bool) (*journal.DB, error) {
	path, err := c.JournalFile()
	if err != nil {
		return nil, err
	}
	return journal.Open(path, journal.Options{
		ReadOnly:  readOnly,
		OnBlocked: c.onBlocked(ctx),
		Notify:    func(msg string) { c.Log.Info().Str("journal", path).Msg(msg) },
	})
}

// onBlocked warns and keeps a held-up commit waiting until ctx ends.
func (c *Config) onBlocked(ctx context.Context) func(*journal.BlockedError) bool {
	return func(b *journal.BlockedError) bool {
		if ctx.Err() != nil {
			return false
		}
		c.Log.Warn().Str("journal", b.Path).Dur("waited", b.Waited).Msg(b.Error() + "; still waiting")
		return true
	}
}

// openExisting opens the journal for writing if it holds something: a
// command that has nothing to act on must not leave a new journal (and its
// lock file) behind. Like a read-only open, it returns journal.ErrNoJournal.
func (c *Config) openExisting(ctx context.Context) (*journal.DB, error) {
	ro, err := c.OpenJournal(ctx, true)
	if err != nil {
		return nil, err
	}
	if err := ro.Close(); err != nil {
		return nil, err
	}
	return c.OpenJournal(ctx, false)
}

// engine builds the engine for one action on j.
func (c *Config) engine(j workflow.Journal) *workflow.Engine {
	e := workflow.New(j, c.Registry(), c.Log)
	if c.Now != nil {
		e.Now = c.Now
	}
	e.User, e.Host, e.Version = c.User, c.Host, c.Version
	e.OnUpdate, e.OnProgress, e.OnOutput = c.OnUpdate, c.OnProgress, c.OnOutput
	// The output files live beside the journal; a journal path that
	// cannot be found would have failed opening j already.
	if path, err := c.JournalFile(); err == nil {
		e.Logs = &runlog.Store{Dir: runlog.Dir(path)}
	}
	e.Reaper = steps.Reaper{}
	return e
}
