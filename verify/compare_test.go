package verify

import (
	"encoding/json"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/yaml"
)

// obj decodes YAML the way verify reads bundle files.
func obj(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := yaml.Unmarshal([]byte(s), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// liveObj decodes JSON the way client-go decodes a LIST.
func liveObj(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestSubset(t *testing.T) {
	pa := `
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata:
  name: default
  namespace: istio-system
  labels: {app.kubernetes.io/managed-by: bulwark, bulwark.dev/version: 1.0.0}
  annotations: {bulwark.dev/controls: TLS-01}
spec:
  mtls: {mode: STRICT}
`
	tests := []struct {
		name    string
		desired string
		live    string
		path    string // empty: want ⊆ live
	}{
		{"identical", pa, `{"apiVersion":"security.istio.io/v1","kind":"PeerAuthentication","metadata":{"name":"default","namespace":"istio-system",
			"labels":{"app.kubernetes.io/managed-by":"bulwark","bulwark.dev/version":"1.0.0"},"annotations":{"bulwark.dev/controls":"TLS-01"}},"spec":{"mtls":{"mode":"STRICT"}}}`, ""},
		{"server-set metadata, extra labels and status are ignored", pa, `{"apiVersion":"security.istio.io/v1","kind":"PeerAuthentication",
			"metadata":{"name":"default","namespace":"istio-system","uid":"u","resourceVersion":"7","generation":3,"creationTimestamp":"2026-01-01T00:00:00Z",
			"managedFields":[{"manager":"flux"}],"labels":{"app.kubernetes.io/managed-by":"bulwark","bulwark.dev/version":"1.0.0","kustomize.toolkit.fluxcd.io/name":"x"},
			"annotations":{"bulwark.dev/controls":"TLS-01","kubectl.kubernetes.io/last-applied-configuration":"{}"}},
			"spec":{"mtls":{"mode":"STRICT"},"selector":null},"status":{"x":1}}`, ""},
		{"changed mode", pa, `{"apiVersion":"security.istio.io/v1","kind":"PeerAuthentication","metadata":{"labels":{"app.kubernetes.io/managed-by":"bulwark","bulwark.dev/version":"1.0.0"},
			"annotations":{"bulwark.dev/controls":"TLS-01"}},"spec":{"mtls":{"mode":"PERMISSIVE"}}}`, ".spec.mtls.mode"},
		{"a label the bundle sets is changed", pa, `{"apiVersion":"security.istio.io/v1","kind":"PeerAuthentication","metadata":{"labels":{"app.kubernetes.io/managed-by":"bulwark","bulwark.dev/version":"0.9.0"},
			"annotations":{"bulwark.dev/controls":"TLS-01"}},"spec":{"mtls":{"mode":"STRICT"}}}`, `.metadata.labels["bulwark.dev/version"]`},
		{"an annotation the bundle sets is gone", pa, `{"apiVersion":"security.istio.io/v1","kind":"PeerAuthentication","metadata":{"labels":{"app.kubernetes.io/managed-by":"bulwark","bulwark.dev/version":"1.0.0"}},
			"spec":{"mtls":{"mode":"STRICT"}}}`, ".metadata.annotations"},
		{"numbers compare by value", "spec: {ports: [{port: 53, protocol: UDP}], ratio: 0.5}",
			`{"spec":{"ports":[{"port":53.0,"protocol":"UDP"}],"ratio":0.5}}`, ""},
		{"a number is not its string", "spec: {port: 53}", `{"spec":{"port":"53"}}`, ".spec.port"},
		{"a bool is not its string", "spec: {enabled: true}", `{"spec":{"enabled":"true"}}`, ".spec.enabled"},
		{"list items may gain server defaults", "spec: {ports: [{port: 53}]}", `{"spec":{"ports":[{"port":53,"protocol":"TCP"}]}}`, ""},
		{"list items compare in order", "spec: {policyTypes: [Ingress, Egress]}", `{"spec":{"policyTypes":["Egress","Ingress"]}}`, ".spec.policyTypes[0]"},
		{"a removed list item", "spec: {policyTypes: [Ingress, Egress]}", `{"spec":{"policyTypes":["Ingress"]}}`, ".spec.policyTypes"},
		{"an added list item", "spec: {policyTypes: [Ingress]}", `{"spec":{"policyTypes":["Ingress","Egress"]}}`, ".spec.policyTypes"},
		{"an empty selector matches an absent one", "spec: {podSelector: {}, egress: [], x: '', n: 0, b: false}", `{"spec":{}}`, ""},
		{"an empty pod selector must stay empty", "spec: {podSelector: {}}", `{"spec":{"podSelector":{"matchLabels":{"a":"b"}}}}`, ".spec.podSelector"},
		{"an empty namespace selector must stay empty", "spec: {ingress: [{from: [{namespaceSelector: {}}]}]}",
			`{"spec":{"ingress":[{"from":[{"namespaceSelector":{"matchLabels":{"a":"b"}}}]}]}}`, ".spec.ingress[0].from[0].namespaceSelector"},
		{"other empty maps may gain server defaults", "spec: {selfSigned: {}}", `{"spec":{"selfSigned":{"crlDistributionPoints":[]}}}`, ""},
		{"a set value is not an absent one", "spec: {podSelector: {matchLabels: {a: b}}}", `{"spec":{}}`, ".spec.podSelector"},
		{"a null in the bundle sets nothing", "spec: {selector: null}", `{"spec":{"selector":{"matchLabels":{"a":"b"}}}}`, ""},
		{"type change map to scalar", "spec: {mtls: {mode: STRICT}}", `{"spec":{"mtls":"STRICT"}}`, ".spec.mtls"},
		{"status in the bundle is ignored", "status: {ready: true}\nspec: {a: 1}", `{"spec":{"a":1}}`, ""},
		{"nested list of maps", "spec: {validations: [{expression: a}, {expression: b}]}",
			`{"spec":{"validations":[{"expression":"a"},{"expression":"c","message":"m"}]}}`, ".spec.validations[1].expression"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, ok := subset(desired(obj(t, tt.desired)), liveObj(t, tt.live))
			switch {
			case tt.path == "" && !ok:
				t.Errorf("want ⊆ live, got a difference at %s: %v vs %v", d.path, d.want, d.got)
			case tt.path != "" && ok:
				t.Errorf("want a difference at %s, got a match", tt.path)
			case tt.path != "" && d.path != tt.path:
				t.Errorf("difference at %s, want %s", d.path, tt.path)
			}
		})
	}
}

func TestDesiredKeepsOnlyLabelsAndAnnotations(t *testing.T) {
	d := desired(obj(t, "metadata: {name: n, namespace: ns, labels: {a: b}, uid: x}\nspec: {a: 1}\nstatus: {b: 2}"))
	md := d["metadata"].(map[string]any)
	if len(md) != 1 || md["labels"] == nil || d["status"] != nil || d["spec"] == nil {
		t.Errorf("desired = %v", d)
	}
}

func TestShort(t *testing.T) {
	for in, want := range map[any]string{
		nil: "nothing", "STRICT": `"STRICT"`, int64(53): `"53"`,
	} {
		if got := short(in); got != want {
			t.Errorf("short(%v) = %s, want %s", in, got, want)
		}
	}
	if got := short(map[string]any{"a": "b"}); got != `"{\"a\":\"b\"}"` {
		t.Errorf("short(map) = %s", got)
	}
	long := short(strings.Repeat("x", 200))
	if len(long) > 100 {
		t.Errorf("short did not shorten: %d bytes", len(long))
	}
}
