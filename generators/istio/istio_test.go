package istio

import (
	"encoding/json"
	"strings"
	"testing"

	securityv1 "istio.io/client-go/pkg/apis/security/v1"

	"bulwark.dev/bulwark/api"
	"bulwark.dev/bulwark/catalogue"
	"bulwark.dev/bulwark/generators/generated"
	"bulwark.dev/bulwark/generators/internal/golden"
	"bulwark.dev/bulwark/profile"
)

func TestGolden(t *testing.T) { golden.Run(t, Generate) }

func load(t *testing.T, cat *catalogue.Catalogue, spec string) *profile.Profile {
	t.Helper()
	doc := "apiVersion: bulwark.dev/v1alpha1\nkind: Profile\nmetadata: {name: test}\nspec:\n  framework: soc2\n" +
		"  namespaces: {include: [shop]}\n  " + strings.ReplaceAll(strings.TrimSpace(spec), "\n", "\n  ") + "\n"
	p, err := profile.LoadBytes("test.yaml", []byte(doc), profile.LoadOptions{KnownControls: cat.IDSet()})
	if err != nil {
		t.Fatalf("profile:\n%s\n%v", doc, err)
	}
	return p
}

func TestGenerate(t *testing.T) {
	cat, err := catalogue.Load()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		spec string
		want string // namespace of the mesh-wide policy; "" for none
	}{
		{"no mesh", "mesh: {provider: none}", ""},
		{"mesh unset defaults to none", "network: {}", ""},
		{"istio, default root namespace", "mesh: {provider: istio}", "istio-system"},
		{"istio, own root namespace", "mesh: {provider: istio, mtls: STRICT, rootNamespace: mesh-root}", "mesh-root"},
		{"istio with TLS-01 disabled", "mesh: {provider: istio}\ncontrols: {disable: [TLS-01]}", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			objs, err := Generate(load(t, cat, tc.spec), cat)
			if err != nil {
				t.Fatal(err)
			}
			if tc.want == "" {
				if len(objs) != 0 {
					t.Fatalf("got %d objects, want none", len(objs))
				}
				return
			}
			if len(objs) != 1 {
				t.Fatalf("got %d objects, want the mesh-wide PeerAuthentication", len(objs))
			}
			o := objs[0]
			pa, ok := o.Object.(*securityv1.PeerAuthentication)
			if !ok {
				t.Fatalf("got %T", o.Object)
			}
			if o.Dir != api.DirMesh || len(o.Controls) != 1 || o.Controls[0] != "TLS-01" {
				t.Errorf("dir %q controls %v", o.Dir, o.Controls)
			}
			if pa.Name != "default" || pa.Namespace != tc.want || pa.APIVersion != "security.istio.io/v1" || pa.Kind != "PeerAuthentication" {
				t.Errorf("got %s %s/%s, want security.istio.io/v1 PeerAuthentication %s/default", pa.APIVersion, pa.Namespace, pa.Name, tc.want)
			}
			if pa.Spec.Selector != nil || len(pa.Spec.PortLevelMtls) != 0 {
				t.Errorf("a selector or port-level override makes it less than mesh-wide: %v", &pa.Spec)
			}
		})
	}
}

// TestRefusesWhatItCannotRealise covers profiles built without the loader.
func TestRefusesWhatItCannotRealise(t *testing.T) {
	for _, m := range []profile.Mesh{
		{Provider: profile.MeshIstio, MTLS: "PERMISSIVE", RootNamespace: "istio-system"},
		{Provider: profile.MeshIstio, MTLS: "STRICT"},
	} {
		p := &profile.Profile{Spec: profile.Spec{Mesh: m}}
		if objs, err := Generate(p, nil); err == nil {
			t.Errorf("mesh %+v: got %d objects and no error", m, len(objs))
		}
	}
}

// TestMarshalsModeByName guards the protobuf quirk: encoding the typed object must give
// the CRD's string enum, which the API server's schema and Istio both require.
func TestMarshalsModeByName(t *testing.T) {
	cat, err := catalogue.Load()
	if err != nil {
		t.Fatal(err)
	}
	objs, err := Generate(load(t, cat, "mesh: {provider: istio}"), cat)
	if err != nil || len(objs) != 1 {
		t.Fatalf("%v, %d objects", err, len(objs))
	}
	raw, err := json.Marshal(objs[0].Object)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Spec map[string]any `json:"spec"`
	}
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	mtls, _ := got.Spec["mtls"].(map[string]any)
	if len(got.Spec) != 1 || len(mtls) != 1 || mtls["mode"] != "STRICT" {
		t.Errorf("spec encodes as %v, want exactly {mtls: {mode: STRICT}}", got.Spec)
	}
	y, err := generated.Marshal(objs[0].Object)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(y), "  mtls:\n    mode: STRICT\n") || strings.Contains(string(y), "status") {
		t.Errorf("bundle YAML:\n%s", y)
	}
}
