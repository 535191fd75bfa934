package catalogue_test

import (
	"strings"
	"testing"

	"bulwark.dev/bulwark/catalogue"
	"bulwark.dev/bulwark/pipeline"
	"bulwark.dev/bulwark/profile"
)

// This file is an external test package: the conversion to the profile's ParamSpec lives in
// pipeline, which imports the catalogue.

// TestParamDeclarations checks every parameter's declaration as the profile loader will use
// it: it converts to a valid profile.ParamSpec, its own default passes it (a profile writing
// the default must not be refused), and no string parameter is left unconstrained.
func TestParamDeclarations(t *testing.T) {
	cat, err := catalogue.Load()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cat.Controls {
		for _, p := range c.Params {
			t.Run(c.ID+"."+p.Name, func(t *testing.T) {
				if msg := paramDeclarationProblem(p); msg != "" {
					t.Error(msg)
				}
				if (p.Type == "string" || p.Type == "stringList") && p.Format == "" && len(p.Enum) == 0 {
					t.Errorf("a %s parameter declares neither a format nor an enum, so a profile may write anything", p.Type)
				}
			})
		}
	}
}

// paramDeclarationProblem says what is wrong with a parameter's declaration, or "".
func paramDeclarationProblem(p catalogue.Param) string {
	s, err := pipeline.ParamSpec(p)
	if err != nil {
		return "declaration: " + err.Error()
	}
	if err := s.Check(p.Default); err != nil {
		return "the default violates the parameter's own spec: " + err.Error()
	}
	return ""
}

// TestBadParamDeclarationsAreCaught proves TestParamDeclarations is not vacuous: each of
// these declarations is refused.
func TestBadParamDeclarationsAreCaught(t *testing.T) {
	for _, tc := range []struct {
		p    catalogue.Param
		want string
	}{
		{catalogue.Param{Name: "maxDuration", Type: "duration", Default: "30m", Minimum: "1h"}, `"30m" is below the minimum of 1h`},
		{catalogue.Param{Name: "maxDuration", Type: "duration", Default: "forever"}, `"forever" is not a duration`},
		{catalogue.Param{Name: "caps", Type: "stringList", Format: "capability", Default: []any{"CAP_KILL"}}, `caps[0]: "CAP_KILL" is not a capability name`},
		{catalogue.Param{Name: "types", Type: "stringList", Enum: []string{"ClusterIP"}, Default: []any{"NodePort"}}, `"NodePort" is not allowed`},
		{catalogue.Param{Name: "n", Type: "int", Default: 1.0, Minimum: 2.0}, "1 is below the minimum of 2"},
		{catalogue.Param{Name: "n", Type: "int", Default: 2.0, Minimum: "1h"}, "minimum 1h is not an integer"},
		{catalogue.Param{Name: "d", Type: "duration", Default: "2h", Minimum: 1.0}, "minimum 1 is not a positive duration"},
		{catalogue.Param{Name: "l", Type: "stringList", Format: "email", Default: []any{}}, `unknown format "email"`},
		{catalogue.Param{Name: "b", Type: "bool", Default: true, Minimum: 1.0}, "minimum applies to int and duration, not bool"},
		{catalogue.Param{Name: "l", Type: "stringList", Format: "namespace", Default: "kube-system"}, "expected a list of strings"},
	} {
		if got := paramDeclarationProblem(tc.p); !strings.Contains(got, tc.want) {
			t.Errorf("%+v: problem %q, want %q", tc.p, got, tc.want)
		}
	}
}

// TestParamSpecsCoverEveryControl: the loader learns every control, with or without
// parameters, and the declared bounds arrive converted.
func TestParamSpecsCoverEveryControl(t *testing.T) {
	cat, err := catalogue.Load()
	if err != nil {
		t.Fatal(err)
	}
	specs, err := pipeline.ParamSpecs(cat)
	if err != nil {
		t.Fatal(err)
	}
	if len(specs) != len(cat.Controls) {
		t.Errorf("%d controls have specs, want all %d", len(specs), len(cat.Controls))
	}
	get := func(id, name string) profile.ParamSpec {
		for _, s := range specs[id] {
			if s.Name == name {
				return s
			}
		}
		t.Fatalf("no spec for %s.%s", id, name)
		return profile.ParamSpec{}
	}
	if s := get("TLS-05", "maxDuration"); s.MinDuration.String() != "1h0m0s" {
		t.Errorf("TLS-05 maxDuration minimum = %v, want 1h (cert-manager's shortest certificate)", s.MinDuration)
	}
	if s := get("AVL-03", "minReplicas"); s.Minimum == nil || *s.Minimum != 2 {
		t.Errorf("AVL-03 minReplicas minimum = %v, want 2 (the control requires at least two replicas)", s.Minimum)
	}
	if s := get("POD-04", "allowedCapabilities"); s.Format != profile.FormatCapability {
		t.Errorf("POD-04 allowedCapabilities format = %q", s.Format)
	}
}
