package network

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/google/cel-go/cel"
	kyvernov1 "github.com/kyverno/api/api/policies.kyverno.io/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"bulwark.dev/bulwark/api"
	"bulwark.dev/bulwark/catalogue"
	"bulwark.dev/bulwark/generators/internal/golden"
	"bulwark.dev/bulwark/profile"
)

func TestGolden(t *testing.T) { golden.Run(t, Generate) }

func loadCatalogue(t *testing.T) *catalogue.Catalogue {
	t.Helper()
	cat, err := catalogue.Load()
	if err != nil {
		t.Fatal(err)
	}
	return cat
}

// load builds a profile through the real loader (defaults and validation) from a spec
// fragment: namespaces default to a selector plus two named namespaces.
func load(t *testing.T, cat *catalogue.Catalogue, spec string) *profile.Profile {
	t.Helper()
	if !strings.Contains(spec, "namespaces:") {
		spec = "namespaces:\n  include: [shop, search]\n  selector: {matchLabels: {bulwark.dev/scope: app}}\n" + spec
	}
	doc := "apiVersion: bulwark.dev/v1alpha1\nkind: Profile\nmetadata: {name: test}\nspec:\n  framework: soc2\n" +
		"  " + strings.ReplaceAll(strings.TrimSpace(spec), "\n", "\n  ") + "\n"
	p, err := profile.LoadBytes("test.yaml", []byte(doc), profile.LoadOptions{KnownControls: cat.IDSet()})
	if err != nil {
		t.Fatalf("profile:\n%s\n%v", doc, err)
	}
	return p
}

func names(pols []Policy) []string {
	var out []string
	for _, p := range pols {
		out = append(out, p.Policy.Name)
	}
	return out
}

func find(pols []Policy, name string) *networkingv1.NetworkPolicy {
	for _, p := range pols {
		if p.Policy.Name == name {
			return p.Policy
		}
	}
	return nil
}

func types(ts ...networkingv1.PolicyType) []networkingv1.PolicyType { return ts }

// peers renders a rule's peers compactly: "ns=NAME" or "ns=NAME pods=SELECTOR".
func peers(ps []networkingv1.NetworkPolicyPeer) []string {
	var out []string
	for _, p := range ps {
		s := "ns=" + p.NamespaceSelector.MatchLabels[nameLabel]
		if p.PodSelector != nil {
			s += " pods=" + metav1.FormatLabelSelector(p.PodSelector)
		}
		out = append(out, s)
	}
	return out
}

func ports(ps []networkingv1.NetworkPolicyPort) []string {
	var out []string
	for _, p := range ps {
		out = append(out, string(*p.Protocol)+"/"+p.Port.String())
	}
	return out
}

func TestPoliciesFor(t *testing.T) {
	cat := loadCatalogue(t)
	cases := []struct {
		name  string
		spec  string
		want  []string
		check func(t *testing.T, pols []Policy)
	}{{
		name: "defaults deny both ways and allow DNS",
		spec: "network: {ingressNamespaces: [ingress-nginx]}",
		want: []string{DefaultDenyName, AllowDNSName, AllowIngressName},
		check: func(t *testing.T, pols []Policy) {
			deny := find(pols, DefaultDenyName)
			if !reflect.DeepEqual(deny.Spec.PolicyTypes, types(networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress)) ||
				len(deny.Spec.PodSelector.MatchLabels)+len(deny.Spec.PodSelector.MatchExpressions) != 0 ||
				deny.Spec.Ingress != nil || deny.Spec.Egress != nil {
				t.Errorf("default deny is not deny-all: %+v", deny.Spec)
			}
			dns := find(pols, AllowDNSName)
			if got := peers(dns.Spec.Egress[0].To); !slices.Equal(got, []string{"ns=kube-system pods=k8s-app=kube-dns"}) {
				t.Errorf("DNS peers = %v", got)
			}
			if got := ports(dns.Spec.Egress[0].Ports); !slices.Equal(got, []string{"UDP/53", "TCP/53"}) {
				t.Errorf("DNS ports = %v", got)
			}
			in := find(pols, AllowIngressName)
			if got := peers(in.Spec.Ingress[0].From); !slices.Equal(got, []string{"ns=ingress-nginx"}) {
				t.Errorf("ingress peers = %v", got)
			}
			if in.Spec.Ingress[0].Ports != nil {
				t.Errorf("ingress allowance restricts ports: %v", in.Spec.Ingress[0].Ports)
			}
		},
	}, {
		name: "only ingress denied: no egress allowances, even with a mesh",
		spec: "network: {defaultDeny: [Ingress], ingressNamespaces: [traefik]}\nmesh: {provider: istio}",
		want: []string{DefaultDenyName, AllowIngressName},
		check: func(t *testing.T, pols []Policy) {
			if got := find(pols, DefaultDenyName).Spec.PolicyTypes; !reflect.DeepEqual(got, types(networkingv1.PolicyTypeIngress)) {
				t.Errorf("policyTypes = %v, want only Ingress", got)
			}
		},
	}, {
		name: "only egress denied: no ingress allowance",
		spec: "network: {defaultDeny: [Egress], ingressNamespaces: [traefik]}\nmesh: {provider: istio}",
		want: []string{DefaultDenyName, AllowDNSName, AllowMeshName},
		check: func(t *testing.T, pols []Policy) {
			if got := find(pols, DefaultDenyName).Spec.PolicyTypes; !reflect.DeepEqual(got, types(networkingv1.PolicyTypeEgress)) {
				t.Errorf("policyTypes = %v, want only Egress", got)
			}
		},
	}, {
		name: "allowDNS false",
		spec: "network: {allowDNS: false, ingressNamespaces: [ingress-nginx]}",
		want: []string{DefaultDenyName, AllowIngressName},
	}, {
		name: "no ingress namespaces and no mesh: nothing to allow in",
		spec: "network: {}",
		want: []string{DefaultDenyName, AllowDNSName},
	}, {
		name: "custom DNS namespace",
		spec: "network: {dnsNamespace: dns}",
		want: []string{DefaultDenyName, AllowDNSName},
		check: func(t *testing.T, pols []Policy) {
			if got := peers(find(pols, AllowDNSName).Spec.Egress[0].To); !slices.Equal(got, []string{"ns=dns pods=k8s-app=kube-dns"}) {
				t.Errorf("DNS peers = %v", got)
			}
		},
	}, {
		name: "istio: gateways in, istiod out, nothing wider",
		spec: "network: {ingressNamespaces: [ingress-nginx]}\nmesh: {provider: istio, rootNamespace: mesh-root}",
		want: []string{DefaultDenyName, AllowDNSName, AllowIngressName, AllowMeshName},
		check: func(t *testing.T, pols []Policy) {
			in := find(pols, AllowIngressName)
			want := []string{"ns=ingress-nginx", "ns=mesh-root pods=istio in (eastwestgateway,ingressgateway)"}
			if got := peers(in.Spec.Ingress[0].From); !slices.Equal(got, want) {
				t.Errorf("ingress peers = %v, want %v", got, want)
			}
			m := find(pols, AllowMeshName)
			if !reflect.DeepEqual(m.Spec.PolicyTypes, types(networkingv1.PolicyTypeEgress)) || m.Spec.Ingress != nil || len(m.Spec.Egress) != 1 {
				t.Fatalf("mesh allowance is not one egress rule: %+v", m.Spec)
			}
			if got := peers(m.Spec.Egress[0].To); !slices.Equal(got, []string{"ns=mesh-root pods=app=istiod"}) {
				t.Errorf("mesh egress peers = %v", got)
			}
			if got := ports(m.Spec.Egress[0].Ports); !slices.Equal(got, []string{"TCP/15012"}) {
				t.Errorf("mesh egress ports = %v, want only istiod's XDS port", got)
			}
		},
	}, {
		name: "istio with only the mesh to allow in",
		spec: "network: {}\nmesh: {provider: istio}",
		want: []string{DefaultDenyName, AllowDNSName, AllowIngressName, AllowMeshName},
		check: func(t *testing.T, pols []Policy) {
			want := []string{"ns=istio-system pods=istio in (eastwestgateway,ingressgateway)"}
			if got := peers(find(pols, AllowIngressName).Spec.Ingress[0].From); !slices.Equal(got, want) {
				t.Errorf("ingress peers = %v, want %v", got, want)
			}
		},
	}, {
		name: "root namespace declared as an ingress namespace: no narrower duplicate",
		spec: "network: {ingressNamespaces: [istio-system]}\nmesh: {provider: istio}",
		want: []string{DefaultDenyName, AllowDNSName, AllowIngressName, AllowMeshName},
		check: func(t *testing.T, pols []Policy) {
			if got := peers(find(pols, AllowIngressName).Spec.Ingress[0].From); !slices.Equal(got, []string{"ns=istio-system"}) {
				t.Errorf("ingress peers = %v", got)
			}
		},
	}, {
		name: "NET-01 disabled: allowances alone would isolate pods, so none",
		spec: "network: {ingressNamespaces: [ingress-nginx]}\nmesh: {provider: istio}\ncontrols: {disable: [NET-01]}",
		want: nil,
	}, {
		name: "NET-02 disabled",
		spec: "network: {ingressNamespaces: [ingress-nginx]}\ncontrols: {disable: [NET-02]}",
		want: []string{DefaultDenyName, AllowIngressName},
	}, {
		name: "NET-03 disabled with a mesh",
		spec: "network: {ingressNamespaces: [ingress-nginx]}\nmesh: {provider: istio}\ncontrols: {disable: [NET-03]}",
		want: []string{DefaultDenyName, AllowDNSName},
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := load(t, cat, tc.spec)
			pols := PoliciesFor(p, "shop")
			if got := names(pols); !slices.Equal(got, tc.want) {
				t.Fatalf("policies = %v, want %v", got, tc.want)
			}
			for _, pol := range pols {
				if pol.Policy.Namespace != "shop" || pol.Policy.APIVersion != "networking.k8s.io/v1" || pol.Policy.Kind != "NetworkPolicy" {
					t.Errorf("%s: namespace %q, type %v", pol.Policy.Name, pol.Policy.Namespace, pol.Policy.TypeMeta)
				}
				wantControl := map[string]string{DefaultDenyName: "NET-01", AllowDNSName: "NET-02", AllowIngressName: "NET-03", AllowMeshName: "NET-03"}[pol.Policy.Name]
				if pol.Control != wantControl {
					t.Errorf("%s realises %s, want %s", pol.Policy.Name, pol.Control, wantControl)
				}
				if pol.Policy.Name != DefaultDenyName && len(pol.Policy.Spec.PolicyTypes) != 1 {
					t.Errorf("%s allows more than one direction: %v", pol.Policy.Name, pol.Policy.Spec.PolicyTypes)
				}
			}
			if tc.check != nil {
				tc.check(t, pols)
			}
		})
	}
}

func TestGenerate(t *testing.T) {
	cat := loadCatalogue(t)
	cases := []struct {
		name         string
		spec         string
		wantStatic   map[string]int // namespace -> NetworkPolicies
		wantGen      []string       // controls of the GeneratingPolicy; nil: none
		wantGenName  string
		wantGenCount int // objects the GeneratingPolicy creates per namespace
	}{{
		name:         "selector only: no static objects",
		spec:         "namespaces: {selector: {matchLabels: {bulwark.dev/scope: app}}}\nnetwork: {ingressNamespaces: [ingress-nginx]}",
		wantStatic:   map[string]int{},
		wantGen:      []string{"NET-01", "NET-02", "NET-03"},
		wantGenName:  "test-net-01",
		wantGenCount: 3,
	}, {
		name:       "include only: no generating policy",
		spec:       "namespaces: {include: [shop, search]}\nnetwork: {ingressNamespaces: [ingress-nginx]}",
		wantStatic: map[string]int{"shop": 3, "search": 3},
	}, {
		name:         "both, with a mesh",
		spec:         "network: {ingressNamespaces: [ingress-nginx]}\nmesh: {provider: istio}",
		wantStatic:   map[string]int{"shop": 4, "search": 4},
		wantGen:      []string{"NET-01", "NET-02", "NET-03"},
		wantGenName:  "test-net-01",
		wantGenCount: 4,
	}, {
		name:         "deny only: the generating policy realises NET-01 alone",
		spec:         "network: {defaultDeny: [Ingress]}",
		wantStatic:   map[string]int{"shop": 1, "search": 1},
		wantGen:      []string{"NET-01"},
		wantGenName:  "test-net-01",
		wantGenCount: 1,
	}, {
		name:       "NET-01 disabled: nothing at all",
		spec:       "network: {ingressNamespaces: [ingress-nginx]}\ncontrols: {disable: [NET-01]}",
		wantStatic: map[string]int{},
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := load(t, cat, tc.spec)
			objs, err := Generate(p, cat)
			if err != nil {
				t.Fatal(err)
			}
			static := map[string]int{}
			var gp *kyvernov1.GeneratingPolicy
			var gpControls []string
			for _, o := range objs {
				if o.Dir != api.DirNetwork || len(o.Controls) == 0 {
					t.Errorf("%s: dir %q, controls %v", o.Object.GetName(), o.Dir, o.Controls)
				}
				if o.Object.GetObjectKind().GroupVersionKind().Kind == "" {
					t.Errorf("%s has no kind", o.Object.GetName())
				}
				switch obj := o.Object.(type) {
				case *networkingv1.NetworkPolicy:
					static[obj.Namespace]++
				case *kyvernov1.GeneratingPolicy:
					if gp != nil {
						t.Fatal("two GeneratingPolicies")
					}
					gp, gpControls = obj, o.Controls
				default:
					t.Errorf("unexpected %T", obj)
				}
			}
			if !reflect.DeepEqual(static, tc.wantStatic) {
				t.Errorf("static NetworkPolicies per namespace = %v, want %v", static, tc.wantStatic)
			}
			if tc.wantGen == nil {
				if gp != nil {
					t.Errorf("unexpected GeneratingPolicy %s", gp.Name)
				}
				return
			}
			if gp == nil {
				t.Fatal("no GeneratingPolicy")
			}
			if gp.Name != tc.wantGenName || !slices.Equal(gpControls, tc.wantGen) {
				t.Errorf("GeneratingPolicy %s realises %v, want %s realising %v", gp.Name, gpControls, tc.wantGenName, tc.wantGen)
			}
			if gp.APIVersion != "policies.kyverno.io/v1" || gp.Kind != "GeneratingPolicy" {
				t.Errorf("GeneratingPolicy type %v", gp.TypeMeta)
			}
			s := gp.Spec
			if !s.GenerateExistingEnabled() || !s.SynchronizationEnabled() || s.OrphanDownstreamOnPolicyDeleteEnabled() {
				t.Errorf("existing %v, synchronize %v, orphan %v: want existing namespaces covered and generated policies kept in sync",
					s.GenerateExistingEnabled(), s.SynchronizationEnabled(), s.OrphanDownstreamOnPolicyDeleteEnabled())
			}
			if len(s.Variables) != tc.wantGenCount || len(s.Generation) != 1 {
				t.Fatalf("%d variables and %d generations, want %d and 1", len(s.Variables), len(s.Generation), tc.wantGenCount)
			}
			for _, v := range s.Variables {
				if !strings.Contains(s.Generation[0].Expression, "variables."+v.Name) {
					t.Errorf("generation %q does not create variable %s", s.Generation[0].Expression, v.Name)
				}
			}
			if !strings.HasPrefix(s.Generation[0].Expression, "generator.Apply(object.metadata.name, [") {
				t.Errorf("generation %q does not place the objects in the triggering namespace", s.Generation[0].Expression)
			}
		})
	}
}

// evalCEL evaluates a constant CEL expression and returns its JSON form.
func evalCEL(t *testing.T, expr string) any {
	t.Helper()
	env, err := cel.NewEnv()
	if err != nil {
		t.Fatal(err)
	}
	ast, iss := env.Compile(expr)
	if iss.Err() != nil {
		t.Fatalf("compiling %s: %v", expr, iss.Err())
	}
	prg, err := env.Program(ast)
	if err != nil {
		t.Fatal(err)
	}
	out, _, err := prg.Eval(cel.NoVars())
	if err != nil {
		t.Fatalf("evaluating %s: %v", expr, err)
	}
	native, err := out.ConvertToNative(reflect.TypeOf(&structpb.Value{}))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := protojson.Marshal(native.(*structpb.Value))
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func jsonOf(t *testing.T, obj any) any {
	t.Helper()
	raw, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestCELObject(t *testing.T) {
	udp := corev1.ProtocolUDP
	named := intstr.FromString("dns-tcp")
	num := intstr.FromInt32(5353)
	tricky := &networkingv1.NetworkPolicy{
		TypeMeta: metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy"},
		ObjectMeta: metav1.ObjectMeta{Name: "odd", Labels: map[string]string{
			"quote": `say "hi"`, "backslash": `a\b`, "newline": "a\nb", "unicode": "café ✓", "empty": "",
		}},
		Spec: networkingv1.NetworkPolicySpec{
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress},
			Egress: []networkingv1.NetworkPolicyEgressRule{{
				Ports: []networkingv1.NetworkPolicyPort{{Protocol: &udp, Port: &num}, {Port: &named}},
				To:    []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: "10.0.0.0/8", Except: []string{"10.1.0.0/16"}}}},
			}},
		},
	}
	cases := []struct {
		name string
		obj  any
	}{
		{"escapes, named and numbered ports, empty selector", tricky},
		{"the default deny", PoliciesFor(load(t, loadCatalogue(t), "network: {}"), "")[0].Policy},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			lit, err := CELObject(tc.obj)
			if err != nil {
				t.Fatal(err)
			}
			got, want := evalCEL(t, lit), jsonOf(t, tc.obj)
			md := want.(map[string]any)["metadata"].(map[string]any)
			delete(md, "creationTimestamp") // null in the typed object, left out of the literal
			if !reflect.DeepEqual(got, want) {
				t.Errorf("CEL literal evaluates to\n%v\nthe object's JSON is\n%v", got, want)
			}
			spec := got.(map[string]any)["spec"].(map[string]any)
			if sel, ok := spec["podSelector"].(map[string]any); !ok || len(sel) != 0 {
				t.Errorf("podSelector = %v; the empty selector (every pod) must survive as {}", spec["podSelector"])
			}
			again, _ := CELObject(tc.obj)
			if again != lit {
				t.Error("CEL literal is not deterministic")
			}
		})
	}
}

// TestGeneratedObjectsAreTheStaticSet evaluates every object literal of the
// GeneratingPolicy and compares it with the static policy the same profile gives a named
// namespace: same name, same spec, and the bulwark trace instead of a namespace.
func TestGeneratedObjectsAreTheStaticSet(t *testing.T) {
	cat := loadCatalogue(t)
	for _, spec := range []string{
		"network: {ingressNamespaces: [ingress-nginx, traefik]}\nmesh: {provider: istio}",
		"network: {defaultDeny: [Egress], allowDNS: true, dnsNamespace: dns}",
	} {
		p := load(t, cat, spec)
		gp, _, err := generatingPolicy(p, cat)
		if err != nil {
			t.Fatal(err)
		}
		static := PoliciesFor(p, "anything")
		if len(gp.Spec.Variables) != len(static) {
			t.Fatalf("%d generated objects, %d static", len(gp.Spec.Variables), len(static))
		}
		for i, v := range gp.Spec.Variables {
			got := evalCEL(t, v.Expression).(map[string]any)
			want := jsonOf(t, static[i].Policy).(map[string]any)
			if !reflect.DeepEqual(got["spec"], want["spec"]) || got["kind"] != "NetworkPolicy" || got["apiVersion"] != "networking.k8s.io/v1" {
				t.Errorf("%s: generated\n%v\nstatic\n%v", v.Name, got, want)
			}
			md := got["metadata"].(map[string]any)
			if md["name"] != static[i].Policy.Name || md["namespace"] != nil {
				t.Errorf("%s: metadata %v; want the static name and no namespace (the trigger's is used)", v.Name, md)
			}
			labels, _ := md["labels"].(map[string]any)
			ann, _ := md["annotations"].(map[string]any)
			if labels[api.LabelManagedBy] != api.ManagedByValue || labels[api.LabelProfile] != "test" ||
				ann[api.AnnotationControls] != static[i].Control || ann[api.AnnotationTSC] == nil {
				t.Errorf("%s: labels %v, annotations %v: the generated object loses its trace", v.Name, labels, ann)
			}
		}
	}
}

func TestVarName(t *testing.T) {
	for in, want := range map[string]string{
		DefaultDenyName:  "defaultDeny",
		AllowDNSName:     "allowDns",
		AllowIngressName: "allowIngress",
		AllowMeshName:    "allowMesh",
		"plain":          "plain",
	} {
		if got := varName(in); got != want {
			t.Errorf("varName(%q) = %q, want %q", in, got, want)
		}
	}
}
