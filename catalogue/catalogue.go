package catalogue

import (
	"embed"
	"fmt"
	"path"
	"regexp"
	"sort"
	"strings"
	"sync"

	"sigs.k8s.io/yaml"
)

//go:embed catalogue.yaml gaps.yaml tsc.yaml controls/*.yaml
var files embed.FS

// fixtures are every control's admission fixtures: the tests evaluate all of them, and
// `bulwark verify --probe` sends the ones each control names in probeFixtures.
//
//go:embed testdata/fixtures/*/*.yaml
var fixtures embed.FS

// Fixture returns the named fixture of a control (a file name under its fixture directory).
func Fixture(id, name string) ([]byte, error) {
	if strings.ContainsAny(name, "/\\") || strings.ContainsAny(id, "/\\") {
		return nil, fmt.Errorf("fixture %s/%s: not a plain file name", id, name)
	}
	data, err := fixtures.ReadFile(path.Join("testdata", "fixtures", id, name))
	if err != nil {
		return nil, fmt.Errorf("control %s has no fixture %s", id, name)
	}
	return data, nil
}

// Generators are the realisations a control may name.
var Generators = []string{"kyverno", "network", "istio", "certmanager", "psa", "verify"}

// ParamTypes are the types a control parameter may have.
var ParamTypes = []string{"string", "int", "bool", "duration", "stringList"}

var (
	loadOnce sync.Once
	loaded   *Catalogue
	loadErr  error
)

// Load parses the embedded catalogue once; controls are sorted by id. Every caller shares the
// returned catalogue and must not modify it.
func Load() (*Catalogue, error) {
	loadOnce.Do(func() { loaded, loadErr = parse() })
	return loaded, loadErr
}

func parse() (*Catalogue, error) {
	cat := &Catalogue{}
	head, err := files.ReadFile("catalogue.yaml")
	if err != nil {
		return nil, fmt.Errorf("reading catalogue.yaml: %w", err)
	}
	if err := yaml.UnmarshalStrict(head, cat); err != nil {
		return nil, fmt.Errorf("catalogue.yaml: %w", err)
	}
	points, err := tscList()
	if err != nil {
		return nil, err
	}
	cat.TSC = points
	gaps, err := files.ReadFile("gaps.yaml")
	if err != nil {
		return nil, fmt.Errorf("reading gaps.yaml: %w", err)
	}
	if err := yaml.UnmarshalStrict(gaps, &cat.Gaps); err != nil {
		return nil, fmt.Errorf("gaps.yaml: %w", err)
	}
	entries, err := files.ReadDir("controls")
	if err != nil {
		return nil, fmt.Errorf("listing controls: %w", err)
	}
	for _, e := range entries {
		data, err := files.ReadFile(path.Join("controls", e.Name()))
		if err != nil {
			return nil, fmt.Errorf("reading controls/%s: %w", e.Name(), err)
		}
		var c Control
		if err := yaml.UnmarshalStrict(data, &c); err != nil {
			return nil, fmt.Errorf("controls/%s: %w", e.Name(), err)
		}
		if want := strings.TrimSuffix(e.Name(), ".yaml"); c.ID != want {
			return nil, fmt.Errorf("controls/%s: id %q does not match the file name", e.Name(), c.ID)
		}
		cat.Controls = append(cat.Controls, c)
	}
	sort.Slice(cat.Controls, func(i, j int) bool { return cat.Controls[i].ID < cat.Controls[j].ID })
	return cat, nil
}

// Get returns the control with the id.
func (c *Catalogue) Get(id string) (*Control, bool) {
	i := sort.Search(len(c.Controls), func(i int) bool { return c.Controls[i].ID >= id })
	if i < len(c.Controls) && c.Controls[i].ID == id {
		return &c.Controls[i], true
	}
	return nil, false
}

// IDs returns every control id, sorted.
func (c *Catalogue) IDs() []string {
	ids := make([]string, len(c.Controls))
	for i, ctl := range c.Controls {
		ids[i] = ctl.ID
	}
	return ids
}

// IDSet returns the control ids as a set, for profile validation.
func (c *Catalogue) IDSet() map[string]bool {
	set := make(map[string]bool, len(c.Controls))
	for _, ctl := range c.Controls {
		set[ctl.ID] = true
	}
	return set
}

// Filter returns the controls serving the TSC point and of the family; empty means any.
func (c *Catalogue) Filter(tsc, family string) []Control {
	var out []Control
	for _, ctl := range c.Controls {
		if family != "" && ctl.Family != family {
			continue
		}
		if tsc != "" && !contains(ctl.TSC, tsc) {
			continue
		}
		out = append(out, ctl)
	}
	return out
}

// Default returns the catalogue default of a parameter.
func (c *Control) Default(name string) (any, bool) {
	for _, p := range c.Params {
		if p.Name == name {
			return p.Default, true
		}
	}
	return nil, false
}

// Realises reports whether the control is realised by the generator.
func (c *Control) Realises(generator string) bool {
	for _, r := range c.RealisedBy {
		if r.Generator == generator {
			return true
		}
	}
	return false
}

// SensitiveOnly reports whether the control applies to the sensitive tier only.
func (c *Control) SensitiveOnly() bool { return c.Tier == "sensitive" }

// ClusterScoped reports whether the control applies cluster-wide rather than to in-scope namespaces.
func (c *Control) ClusterScoped() bool { return c.Scope == "cluster" }

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

var tscRE = regexp.MustCompile(`^(CC[1-9]\.[0-9]|A1\.[1-3]|C1\.[1-2]|PI1\.[1-5]|P[1-8]\.[1-7])$`)

var (
	tscOnce  sync.Once
	tscAll   []TSCPoint
	knownTSC map[string]bool
	tscErr   error
)

// tscList parses tsc.yaml once: every SOC 2 (2017, revised points of focus 2022) Trust
// Services Criteria point, in order.
func tscList() ([]TSCPoint, error) {
	tscOnce.Do(func() {
		data, err := files.ReadFile("tsc.yaml")
		if err != nil {
			tscErr = fmt.Errorf("reading tsc.yaml: %w", err)
			return
		}
		if err := yaml.UnmarshalStrict(data, &tscAll); err != nil {
			tscErr = fmt.Errorf("tsc.yaml: %w", err)
			return
		}
		knownTSC = map[string]bool{}
		for _, p := range tscAll {
			if !tscRE.MatchString(p.ID) || knownTSC[p.ID] || p.Title == "" {
				tscErr = fmt.Errorf("tsc.yaml: point %q is malformed, repeated or untitled", p.ID)
				return
			}
			knownTSC[p.ID] = true
		}
	})
	return tscAll, tscErr
}

// KnownTSC reports whether point is a SOC 2 Trust Services Criteria point, e.g. CC6.6.
func KnownTSC(point string) bool {
	if _, err := tscList(); err != nil {
		return false
	}
	return tscRE.MatchString(point) && knownTSC[point]
}

// Covered maps every TSC point a catalogue control serves to those controls, sorted by id.
func (c *Catalogue) Covered() map[string][]string {
	m := map[string][]string{}
	for _, ctl := range c.Controls {
		for _, p := range ctl.TSC {
			m[p] = append(m[p], ctl.ID)
		}
	}
	return m
}

// TSCTitle is the point's title, or "" for an unknown point.
func (c *Catalogue) TSCTitle(point string) string {
	for _, p := range c.TSC {
		if p.ID == point {
			return p.Title
		}
	}
	return ""
}
