package playbooks

import (
	"regexp"
	"slices"
	"time"
)

// Fake kinds shaped like the real ones, so the loader is tested against
// realistic params structs without depending on the steps package.

type execOutput struct {
	Regex string `yaml:"regex"`
	JSON  string `yaml:"json"`
}

type execParams struct {
	Argv    []string              `yaml:"argv"`
	Env     map[string]string     `yaml:"env,omitempty"`
	Dir     string                `yaml:"dir,omitempty"`
	Timeout time.Duration         `yaml:"timeout,omitempty"`
	RetryOn []int                 `yaml:"retryOn,omitempty"`
	Extract map[string]execOutput `yaml:"outputs,omitempty"`
}

func (p *execParams) Outputs() []string {
	var names []string
	for name := range p.Extract {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

func (p *execParams) Validate() []FieldError {
	var errs []FieldError
	if len(p.Argv) == 0 {
		errs = append(errs, FieldError{Field: "argv", Msg: "must not be empty"})
	}
	for _, name := range p.Outputs() {
		o := p.Extract[name]
		switch {
		case (o.Regex == "") == (o.JSON == ""):
			errs = append(errs, FieldError{Field: "outputs." + name, Msg: "set exactly one of regex and json"})
		case o.Regex != "":
			if _, err := regexp.Compile(o.Regex); err != nil {
				errs = append(errs, FieldError{Field: "outputs." + name + ".regex", Msg: "bad regex"})
			}
		}
	}
	return errs
}

type gateParams struct {
	Message string `yaml:"message"`
}

type assertParams struct {
	That    string `yaml:"that"`
	Equals  string `yaml:"equals"`
	Message string `yaml:"message"`
}

func (p *assertParams) Validate() []FieldError {
	if p.That == "" {
		return []FieldError{{Msg: "that is required"}}
	}
	return nil
}

type staticSource struct {
	Items []string `yaml:"items"`
}

// typesParams exercises every field type the decoder supports.
type typesBase struct {
	Label string `yaml:"label"`
}

type typesInner struct {
	Name string `yaml:"name"`
	Port int    `yaml:"port"`
}

type typesParams struct {
	Base     typesBase             `yaml:",inline"`
	Str      string                `yaml:"str"`
	Flag     bool                  `yaml:"flag"`
	Int      int                   `yaml:"int"`
	Int64    int64                 `yaml:"int64"`
	Small    int8                  `yaml:"small"`
	Float    float64               `yaml:"float"`
	Dur      time.Duration         `yaml:"dur"`
	Strs     []string              `yaml:"strs"`
	Ints     []int                 `yaml:"ints"`
	Inners   []typesInner          `yaml:"inners"`
	StrMap   map[string]string     `yaml:"strMap"`
	InnerMap map[string]typesInner `yaml:"innerMap"`
	Inner    typesInner            `yaml:"inner"`
	InnerPtr *typesInner           `yaml:"innerPtr"`
	Untagged string
	Skipped  string `yaml:"-"`
	hidden   string
}

type spec[T any] struct{}

func (spec[T]) NewParams() any { return new(T) }

type testRegistry struct{}

var testKinds = map[string]KindSpec{
	"exec":   spec[execParams]{},
	"gate":   spec[gateParams]{},
	"assert": spec[assertParams]{},
	"types":  spec[typesParams]{},
}

var testSources = map[string]KindSpec{
	"list.static": spec[staticSource]{},
}

func (testRegistry) Kind(name string) (KindSpec, bool) {
	s, ok := testKinds[name]
	return s, ok
}

func (testRegistry) Source(name string) (KindSpec, bool) {
	s, ok := testSources[name]
	return s, ok
}

func (testRegistry) KindNames() []string   { return sortedKeys(testKinds) }
func (testRegistry) SourceNames() []string { return sortedKeys(testSources) }
