package profile

import (
	"encoding/json"
	"regexp"
	"slices"
	"testing"
)

func TestSchemaConstrainsParams(t *testing.T) {
	var s map[string]any
	if err := json.Unmarshal(Schema(SchemaOptions{Params: testParams}), &s); err != nil {
		t.Fatal(err)
	}
	obj := func(m any, keys ...string) map[string]any {
		t.Helper()
		for _, k := range keys {
			next, ok := m.(map[string]any)[k]
			if !ok {
				t.Fatalf("schema lacks %v", keys)
			}
			m = next
		}
		return m.(map[string]any)
	}
	params := obj(s, "properties", "spec", "properties", "controls", "properties", "params")
	if params["additionalProperties"] != false {
		t.Error("spec.controls.params admits unknown control ids")
	}
	if len(obj(params, "properties")) != len(testParams) {
		t.Errorf("params has %d controls, want %d", len(obj(params, "properties")), len(testParams))
	}
	if tls := obj(params, "properties", "TLS-05"); tls["additionalProperties"] != false {
		t.Error("TLS-05 admits unknown parameter names")
	}
	d := obj(params, "properties", "TLS-05", "properties", "maxDuration")
	if d["type"] != "string" || d["default"] != "2160h" || d["description"] != "At least 1h." {
		t.Errorf("maxDuration schema = %v", d)
	}
	caps := obj(params, "properties", "POD-04", "properties", "allowedCapabilities")
	if caps["type"] != "array" || caps["uniqueItems"] != true {
		t.Errorf("allowedCapabilities schema = %v", caps)
	}
	if enum, _ := obj(caps, "items")["enum"].([]any); !slices.Contains(enum, any("NET_BIND_SERVICE")) || slices.Contains(enum, any("CAP_NET_BIND_SERVICE")) {
		t.Errorf("allowedCapabilities items enum = %v", enum)
	}
	if m := obj(params, "properties", "AVL-03", "properties", "minReplicas"); m["type"] != "integer" || m["minimum"] != 2.0 || m["maximum"] != 100.0 {
		t.Errorf("minReplicas schema = %v", m)
	}
	if b := obj(params, "properties", "LOG-01", "properties", "strict"); b["type"] != "boolean" {
		t.Errorf("strict schema = %v", b)
	}
	if e := obj(params, "properties", "LOG-01", "properties", "mode"); !slices.Equal(e["enum"].([]any), []any{"Quiet", "Verbose"}) {
		t.Errorf("mode schema = %v", e)
	}
	// Without specs, params stay free-form.
	if err := json.Unmarshal(Schema(SchemaOptions{}), &s); err != nil {
		t.Fatal(err)
	}
	if p := obj(s, "properties", "spec", "properties", "controls", "properties", "params"); p["properties"] != nil {
		t.Errorf("params constrained without specs: %v", p)
	}
}

// TestSchemaPatternsAgreeWithLoad: on these samples, what an editor's schema accepts Load
// accepts, and the reverse, for each format with a pattern and for durations. (A pattern
// cannot say everything: "0s" and a service account with a bad namespace pass the schema
// and are refused by Load.)
func TestSchemaPatternsAgreeWithLoad(t *testing.T) {
	for _, tc := range []struct {
		format ParamFormat
		values []string
	}{
		{FormatLabelKey, []string{"owner", "app.kubernetes.io/name", "bad key", "/x", "Example.com/x", "a/b"}},
		{FormatNamespace, []string{"payments", "Payments", "-a", "a-b-1"}},
		{FormatDNSSubdomain, []string{"le.prod", "le..prod", "LE", "ca-1"}},
		{FormatRBACName, []string{"edit", "system:aggregate-to-edit", "a/b", "50%"}},
		{FormatSysctl, []string{"net.ipv4.tcp_syncookies", "kernel.*", "net/ipv4/ip_forward", "Kernel.x", "kernel.shm_rmid_forced"}},
		{FormatSELinuxType, []string{"", "container_t", "bad type", "1x"}},
		{FormatRegistryPrefix, []string{"ghcr.io/acme/", "registry.example:5000/team/", "GHCR.io/", "ghcr.io/acme/app:1.0"}},
		{FormatUsername, []string{"alice", " alice", "system:serviceaccount:flux-system:kustomize-controller"}},
	} {
		spec := ParamSpec{Name: "x", Type: ParamString, Format: tc.format}
		sch := spec.schema()
		re := regexp.MustCompile(sch["pattern"].(string))
		for _, v := range tc.values {
			loads := spec.Check(v) == nil
			if matches := re.MatchString(v); matches != loads {
				t.Errorf("%s %q: schema pattern matches %v, Load accepts %v", tc.format, v, matches, loads)
			}
		}
	}
	re := regexp.MustCompile(durationPattern)
	spec := ParamSpec{Name: "d", Type: ParamDuration}
	for _, v := range []string{"2160h", "1h30m", "1.5h", "500ms", "forever", "90d", "-1h", "h"} {
		if matches, loads := re.MatchString(v), spec.Check(v) == nil; matches != loads {
			t.Errorf("duration %q: schema pattern matches %v, Load accepts %v", v, matches, loads)
		}
	}
}
