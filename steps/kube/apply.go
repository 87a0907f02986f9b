package kube

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/cairn-dev/cairn/playbooks"
	"github.com/cairn-dev/cairn/steps"
	"github.com/cairn-dev/cairn/steps/cluster"
)

// FieldManager is the field manager of everything cairn applies, so that
// `kubectl get -o yaml --show-managed-fields` tells cairn's fields apart.
const FieldManager = "cairn"

// ApplyParams are the params of kube.apply: server-side apply of one or more
// manifests, the native form of `kubectl apply --server-side -f`.
type ApplyParams struct {
	// File is a YAML (multi-document, or a v1 List) or JSON file, relative
	// to cairn's working directory. Its content is used as is: references
	// are rendered in params only, so use manifest for a templated object.
	File string `yaml:"file" json:"file,omitempty"`
	// Manifest is inline YAML; as a string param it is rendered, so
	// ${params.newRev} works inside it.
	Manifest string `yaml:"manifest" json:"manifest,omitempty"`
	// Namespace is used for namespaced objects that name none.
	Namespace string `yaml:"namespace" json:"namespace,omitempty"`
	// Force takes over fields that another field manager owns (istioctl,
	// kubectl, a controller). It is off by default so that applying a
	// Service never silently wrests a field from the installer or an
	// autoscaler; the conflict error names the owner, and a playbook that
	// means to take the field says force: true.
	Force bool `yaml:"force" json:"force,omitempty"`
	// Diff records in the evidence, before applying, what `kubectl diff`
	// would show: each object's unified diff of the live object against a
	// server-side dry run (Secrets excepted: their data stays out of the
	// journal).
	Diff bool `yaml:"diff" json:"diff,omitempty"`
}

// Validate requires exactly one source and, when the manifest holds no
// reference, parses it so that a broken manifest fails at load time.
func (p *ApplyParams) Validate() []playbooks.FieldError {
	var errs objFieldErrs
	switch {
	case p.File != "" && p.Manifest != "":
		errs.add("manifest", "set file or manifest, not both")
	case p.File == "" && strings.TrimSpace(p.Manifest) == "":
		errs.add("", "set file (a path to YAML manifests) or manifest (inline YAML)")
	case p.Manifest != "" && !strings.Contains(p.Manifest, "${"):
		if _, err := parseManifests([]byte(p.Manifest)); err != nil {
			errs.add("manifest", "%v", err)
		}
	}
	return errs
}

func applyKind(clients cluster.ClientsFunc) steps.Kind {
	return steps.Kind{
		Name:         "kube.apply",
		Summary:      "server-side apply manifests (file or inline, templated) with field manager cairn",
		NewParams:    func() any { return &ApplyParams{} },
		New:          lazy(clients, func(cl *cluster.Clients) steps.Executor { return &applyExec{cl: cl} }),
		NeedsCluster: true,
		Diffs:        true,
	}
}

// objects reads and parses the rendered params' manifests. Every failure
// is the playbook's, hence permanent.
func (p *ApplyParams) objects() ([]*unstructured.Unstructured, error) {
	data := []byte(p.Manifest)
	src := "manifest"
	if p.File != "" {
		src = "file " + p.File
		var err error
		if data, err = os.ReadFile(p.File); err != nil {
			return nil, steps.Permanent(fmt.Errorf("kube.apply: %w", err))
		}
	}
	objs, err := parseManifests(data)
	if err != nil {
		return nil, steps.Permanent(fmt.Errorf("kube.apply: %s: %w", src, err))
	}
	return objs, nil
}

// parseManifests splits YAML documents (or one JSON object) into objects,
// expanding v1 Lists. Numbers decode as int64 where integral, as the API
// machinery expects, which a plain yaml.Unmarshal into map[string]any would
// not do.
func parseManifests(data []byte) ([]*unstructured.Unstructured, error) {
	var out []*unstructured.Unstructured
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for doc := 1; ; doc++ {
		raw, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", doc, err)
		}
		j, err := yaml.YAMLToJSON(raw)
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", doc, err)
		}
		if t := bytes.TrimSpace(j); len(t) == 0 || string(t) == "null" {
			continue // only comments, or an empty document between ---
		}
		obj, _, err := unstructured.UnstructuredJSONScheme.Decode(j, nil, nil)
		if err != nil {
			return nil, fmt.Errorf("document %d: %w (each document needs apiVersion, kind and metadata.name)", doc, err)
		}
		var items []*unstructured.Unstructured
		switch o := obj.(type) {
		case *unstructured.Unstructured:
			items = []*unstructured.Unstructured{o}
		case *unstructured.UnstructuredList:
			for i := range o.Items {
				items = append(items, &o.Items[i])
			}
		default:
			return nil, fmt.Errorf("document %d: unexpected %T", doc, obj)
		}
		for _, u := range items {
			if u.GetName() == "" {
				return nil, fmt.Errorf("document %d: %s has no metadata.name (server-side apply needs a name; generateName is not supported)", doc, u.GetKind())
			}
			if u.GetAPIVersion() == "" {
				return nil, fmt.Errorf("document %d: %s %s has no apiVersion", doc, u.GetKind(), u.GetName())
			}
			out = append(out, u)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no objects: the manifest is empty")
	}
	return out, nil
}
