package profile

import (
	"strings"
	"testing"
	"time"
)

func ptr[T any](v T) *T { return &v }

// testParams stands in for the catalogue's parameters (this package must not import it):
// the real controls' shapes, and LOG-01 given a bool and a string enum no real control has.
var testParams = map[string][]ParamSpec{
	"TLS-05": {{Name: "maxDuration", Type: ParamDuration, Default: "2160h", MinDuration: time.Hour}},
	"POD-04": {{Name: "allowedCapabilities", Type: ParamStringList, Format: FormatCapability, Default: []any{"CHOWN"}}},
	"POD-13": {{Name: "allowedSysctls", Type: ParamStringList, Format: FormatSysctl}},
	"NET-04": {
		{Name: "allowedServiceTypes", Type: ParamStringList, Enum: []string{"ClusterIP", "NodePort", "LoadBalancer", "ExternalName"}},
		{Name: "allowNamespaces", Type: ParamStringList, Format: FormatNamespace},
	},
	"AVL-03": {{Name: "minReplicas", Type: ParamInt, Minimum: ptr[int64](2), Maximum: ptr[int64](100)}},
	"SEC-01": {{Name: "credentialKeyPatterns", Type: ParamStringList, Format: FormatRegexp}},
	"CHG-02": {{Name: "allowedIdentities", Type: ParamStringList, Format: FormatUsername}},
	"SUP-01": {{Name: "allowedRegistries", Type: ParamStringList, Format: FormatRegistryPrefix}},
	"LOG-01": {
		{Name: "strict", Type: ParamBool},
		{Name: "mode", Type: ParamString, Enum: []string{"Quiet", "Verbose"}},
	},
}

const paramsHead = valid + "  controls:\n    params:\n"

func TestParamsAreChecked(t *testing.T) {
	cases := []struct {
		name   string
		params string
		// want lists "LINE:COL path: substring" for every expected error, in order.
		want []string
	}{
		{"not a duration", "      TLS-05: {maxDuration: forever}\n", []string{`11:29 spec.controls.params.TLS-05.maxDuration: "forever" is not a duration (a Go duration such as 2160h`}},
		{"negative duration", "      TLS-05: {maxDuration: -1h}\n", []string{`11:29 spec.controls.params.TLS-05.maxDuration: "-1h" is not a positive duration`}},
		{"duration below the minimum", "      TLS-05: {maxDuration: 30m}\n", []string{`11:29 spec.controls.params.TLS-05.maxDuration: "30m" is below the minimum of 1h`}},
		{"number for a duration", "      TLS-05: {maxDuration: 2160}\n", []string{`11:29 spec.controls.params.TLS-05.maxDuration: expected a duration (a Go duration such as 2160h), got integer 2160`}},
		{"null", "      TLS-05: {maxDuration: null}\n", []string{`11:29 spec.controls.params.TLS-05.maxDuration: must not be null (expected a duration`}},
		{"null list", "      POD-04: {allowedCapabilities: }\n", []string{`11:37 spec.controls.params.POD-04.allowedCapabilities: must not be null (expected a list of strings: write [] for none`}},
		{"string for a list", "      POD-04: {allowedCapabilities: SYS_ADMIN}\n", []string{`11:37 spec.controls.params.POD-04.allowedCapabilities: expected a list of strings, got string "SYS_ADMIN"`}},
		{"mapping for a list", "      POD-04: {allowedCapabilities: {a: b}}\n", []string{`11:37 spec.controls.params.POD-04.allowedCapabilities: expected a list of strings, got a mapping`}},
		{"misspelt name", "      POD-04: {allowedCapabilites: [NET_RAW]}\n", []string{`11:16 spec.controls.params.POD-04.allowedCapabilites: unknown parameter "allowedCapabilites" (did you mean "allowedCapabilities"? see 'bulwark controls show POD-04')`}},
		{"unknown name", "      POD-04: {colour: blue}\n", []string{`11:16 spec.controls.params.POD-04.colour: unknown parameter "colour" (allowed: allowedCapabilities)`}},
		{"control without parameters", "      POD-07: {x: 1}\n", []string{`11:16 spec.controls.params.POD-07.x: unknown parameter "x" (control POD-07 has no parameters)`}},
		{"unknown control is reported once", "      TLS-55: {maxDuration: forever}\n", []string{`11:7 spec.controls.params.TLS-55: unknown control "TLS-55"`}},
		{"CAP_ prefix", "      POD-04: {allowedCapabilities: [NET_RAW, CAP_SYS_ADMIN]}\n", []string{`11:47 spec.controls.params.POD-04.allowedCapabilities[1]: "CAP_SYS_ADMIN" is not a capability name (write it without the CAP_ prefix, as the Pod Security Standards do: "SYS_ADMIN")`}},
		{"lower-case capability", "      POD-04: {allowedCapabilities: [net_raw]}\n", []string{`11:38 spec.controls.params.POD-04.allowedCapabilities[0]: "net_raw" is not a capability name (capabilities are upper case: "NET_RAW")`}},
		{"no such capability", "      POD-04: {allowedCapabilities: [NET_RAWW]}\n", []string{`11:38 spec.controls.params.POD-04.allowedCapabilities[0]: "NET_RAWW" is not a capability name (did you mean "NET_RAW"?`}},
		{"ALL is not a capability", "      POD-04: {allowedCapabilities: [ALL]}\n", []string{`11:38 spec.controls.params.POD-04.allowedCapabilities[0]: "ALL" is not a capability name (list each capability`}},
		{"number in a list", "      POD-04: {allowedCapabilities: [42]}\n", []string{`11:38 spec.controls.params.POD-04.allowedCapabilities[0]: expected a string, got integer 42`}},
		{"element listed twice", "      POD-04: {allowedCapabilities: [NET_RAW, NET_RAW]}\n", []string{`11:47 spec.controls.params.POD-04.allowedCapabilities[1]: "NET_RAW" is listed twice`}},
		{"value outside the enum", "      NET-04: {allowedServiceTypes: [NodePrt]}\n", []string{`11:38 spec.controls.params.NET-04.allowedServiceTypes[0]: "NodePrt" is not allowed (did you mean "NodePort"? allowed: ClusterIP, NodePort, LoadBalancer, ExternalName)`}},
		{"bad namespace", "      NET-04: {allowNamespaces: [Bad_NS]}\n", []string{`11:34 spec.controls.params.NET-04.allowNamespaces[0]: "Bad_NS" is not a valid namespace name`}},
		{"int below the minimum", "      AVL-03: {minReplicas: 1}\n", []string{`11:29 spec.controls.params.AVL-03.minReplicas: 1 is below the minimum of 2`}},
		{"int above the maximum", "      AVL-03: {minReplicas: 1000}\n", []string{`11:29 spec.controls.params.AVL-03.minReplicas: 1000 is above the maximum of 100`}},
		{"fraction for an int", "      AVL-03: {minReplicas: 2.5}\n", []string{`11:29 spec.controls.params.AVL-03.minReplicas: expected an integer, got number 2.5`}},
		{"quoted int", "      AVL-03: {minReplicas: \"3\"}\n", []string{`11:29 spec.controls.params.AVL-03.minReplicas: expected an integer, got string "3"`}},
		{"string for a bool", "      LOG-01: {strict: \"yes\"}\n", []string{`11:24 spec.controls.params.LOG-01.strict: expected true or false, got string "yes"`}},
		{"string outside the enum", "      LOG-01: {mode: Loud}\n", []string{`11:22 spec.controls.params.LOG-01.mode: "Loud" is not allowed (allowed: Quiet, Verbose)`}},
		{"bad regular expression", "      SEC-01: {credentialKeyPatterns: [\"(unclosed\"]}\n", []string{`11:40 spec.controls.params.SEC-01.credentialKeyPatterns[0]: "(unclosed" is not a regular expression (RE2 syntax)`}},
		{"empty regular expression", "      SEC-01: {credentialKeyPatterns: [\"\"]}\n", []string{`11:40 spec.controls.params.SEC-01.credentialKeyPatterns[0]: is empty (an empty pattern matches everything)`}},
		{"bad service account user", "      CHG-02: {allowedIdentities: [\"system:serviceaccount:Flux:x\"]}\n", []string{`11:36 spec.controls.params.CHG-02.allowedIdentities[0]: "system:serviceaccount:Flux:x" is not a service account user name`}},
		{"registry prefix as in spec.images", "      SUP-01: {allowedRegistries: [\"https://ghcr.io/acme/\"]}\n", []string{`11:36 spec.controls.params.SUP-01.allowedRegistries[0]: "https://ghcr.io/acme/" has a URL scheme`}},
		{"elements on their own lines", "      POD-13:\n        allowedSysctls:\n          - net.ipv4.tcp_syncookies\n          - kernel.*\n          - net/ipv4/ip_forward\n", []string{
			`14:13 spec.controls.params.POD-13.allowedSysctls[1]: "kernel.*" is not a sysctl name (names are compared exactly`,
			`15:13 spec.controls.params.POD-13.allowedSysctls[2]: "net/ipv4/ip_forward" is not a sysctl name as this list compares it (write it with dots: "net.ipv4.ip_forward")`}},
		{"every problem at once", "      TLS-05: {maxDuration: forever, maxDuraton: 1h}\n      AVL-03: {minReplicas: 0}\n", []string{
			`11:29 spec.controls.params.TLS-05.maxDuration: "forever" is not a duration`,
			`11:38 spec.controls.params.TLS-05.maxDuraton: unknown parameter "maxDuraton" (did you mean "maxDuration"?`,
			`12:29 spec.controls.params.AVL-03.minReplicas: 0 is below the minimum of 2`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadBytes("bad.yaml", []byte(paramsHead+tc.params), opts())
			list, ok := AsErrorList(err)
			if !ok {
				t.Fatalf("want an ErrorList, got %v", err)
			}
			if len(list) != len(tc.want) {
				t.Fatalf("got %d errors, want %d:\n%v", len(list), len(tc.want), list)
			}
			for i, w := range tc.want {
				loc, rest, _ := strings.Cut(w, " ")
				if !strings.HasPrefix(list[i].Error(), "bad.yaml:"+loc+": ") {
					t.Errorf("error %d = %q, want location bad.yaml:%s", i, list[i].Error(), loc)
				}
				if !strings.Contains(list[i].Error(), rest) {
					t.Errorf("error %d = %q, want it to contain %q", i, list[i].Error(), rest)
				}
			}
		})
	}
}

func TestGoodParamsLoad(t *testing.T) {
	p, err := LoadBytes("good.yaml", []byte(paramsHead+`      TLS-05: {maxDuration: 1h30m}
      POD-04: {allowedCapabilities: []}
      POD-13: {allowedSysctls: [net.ipv4.tcp_syncookies, kernel.shm_rmid_forced]}
      NET-04: {allowedServiceTypes: [ClusterIP, LoadBalancer], allowNamespaces: [ingress-nginx]}
      AVL-03: {minReplicas: 3}
      SEC-01: {credentialKeyPatterns: ["(?i)passw(or)?d"]}
      CHG-02: {allowedIdentities: ["system:serviceaccount:flux-system:kustomize-controller", "alice@example.com"]}
      SUP-01: {allowedRegistries: [ghcr.io/acme/]}
      LOG-01: {strict: true, mode: Quiet}
`), opts())
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := p.Param("TLS-05", "maxDuration"); v != "1h30m" {
		t.Errorf("maxDuration = %v", v)
	}
	// Without specs the loader knows no parameters and checks none.
	o := opts()
	o.Params = nil
	if _, err := LoadBytes("free.yaml", []byte(paramsHead+"      TLS-05: {anything: [1, 2]}\n"), o); err != nil {
		t.Errorf("with no ParamSpecs, params are free-form: %v", err)
	}
}

func TestParamSpecCheck(t *testing.T) {
	dur := ParamSpec{Name: "maxDuration", Type: ParamDuration, MinDuration: time.Hour, MaxDuration: 24 * time.Hour}
	list := ParamSpec{Name: "caps", Type: ParamStringList, Format: FormatCapability}
	for _, tc := range []struct {
		spec  ParamSpec
		value any
		want  string // "" for no error
	}{
		{dur, "2h", ""},
		{dur, "25h", `maxDuration: "25h" is above the maximum of 24h`},
		{dur, "0s", `maxDuration: "0s" is not a positive duration`},
		{list, []string{"CHOWN", "KILL"}, ""},
		{list, []string{"CHOWN", "chown", "CAP_KILL"}, `caps[1]: "chown" is not a capability name (capabilities are upper case: "CHOWN")` + "\n" + `caps[2]: "CAP_KILL" is not a capability name`},
		{ParamSpec{Name: "n", Type: ParamInt}, 3, ""},
		{ParamSpec{Name: "n", Type: ParamInt}, int64(3), ""},
		{ParamSpec{Name: "n", Type: ParamInt}, 3.0, ""},
		{ParamSpec{Name: "b", Type: ParamBool}, nil, "b: must not be null (expected true or false"},
		{ParamSpec{Name: "k", Type: ParamStringList, Format: FormatLabelKey}, []any{"app.kubernetes.io/name", "bad key"}, `k[1]: "bad key" is not a valid label key`},
		{ParamSpec{Name: "r", Type: ParamStringList, Format: FormatRBACName}, []any{"edit", "a/b", ".."}, `r[1]: "a/b" is not a valid RBAC object name`},
		{ParamSpec{Name: "i", Type: ParamStringList, Format: FormatDNSSubdomain}, []any{"letsencrypt.prod", "Le"}, `i[1]: "Le" is not a valid name`},
		{ParamSpec{Name: "s", Type: ParamStringList, Format: FormatSELinuxType}, []any{"", "container_t", "bad type"}, `s[2]: "bad type" is not an SELinux type`},
	} {
		err := tc.spec.Check(tc.value)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s %v: %v", tc.spec.Name, tc.value, err)
		case tc.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.want)):
			t.Errorf("%s %v: error %v, want %q", tc.spec.Name, tc.value, err, tc.want)
		}
	}
	if err := (ParamSpec{Name: "r", Type: ParamStringList, Format: FormatRBACName}).Check([]any{".."}); err == nil {
		t.Error(`".." is accepted as an RBAC name`)
	}
}

func TestParamSpecValidate(t *testing.T) {
	for _, tc := range []struct {
		spec ParamSpec
		want string // "" for a valid spec
	}{
		{ParamSpec{Name: "a", Type: ParamStringList, Format: FormatCapability}, ""},
		{ParamSpec{Name: "a", Type: ParamDuration, MinDuration: time.Hour}, ""},
		{ParamSpec{Type: ParamString}, "parameter has no name"},
		{ParamSpec{Name: "a", Type: "list"}, `unknown type "list"`},
		{ParamSpec{Name: "a", Type: ParamString, Format: "email"}, `unknown format "email"`},
		{ParamSpec{Name: "a", Type: ParamInt, Enum: []string{"1"}}, "enum and format apply to string and stringList, not int"},
		{ParamSpec{Name: "a", Type: ParamStringList, Format: FormatCapability, Enum: []string{"CAP_KILL"}}, `enum value "CAP_KILL" is not a capability name`},
		{ParamSpec{Name: "a", Type: ParamDuration, Minimum: ptr[int64](1)}, "minimum and maximum apply to int, not duration"},
		{ParamSpec{Name: "a", Type: ParamInt, Minimum: ptr[int64](3), Maximum: ptr[int64](2)}, "minimum 3 is above maximum 2"},
		{ParamSpec{Name: "a", Type: ParamInt, MinDuration: time.Hour}, "duration bounds apply to duration, not int"},
		{ParamSpec{Name: "a", Type: ParamDuration, MinDuration: 2 * time.Hour, MaxDuration: time.Hour}, "are not positive and ordered"},
	} {
		err := tc.spec.Validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%+v: %v", tc.spec, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%+v: error %v, want %q", tc.spec, err, tc.want)
		}
	}
}

func TestShortDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{time.Hour: "1h", 90 * time.Minute: "1h30m", 2160 * time.Hour: "2160h", 30 * time.Second: "30s", 1500 * time.Millisecond: "1.5s", 61 * time.Second: "1m1s"} {
		if got := shortDuration(d); got != want {
			t.Errorf("shortDuration(%v) = %q, want %q", d, got, want)
		}
	}
}
