package verify

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"

	"github.com/google/cel-go/cel"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"bulwark.dev/bulwark/api"
)

var generatingPolicyGVK = schema.GroupVersionKind{Group: "policies.kyverno.io", Version: "v1", Kind: "GeneratingPolicy"}

// generatedObject is an object a bundle GeneratingPolicy creates in every namespace it
// matches: verify holds what Kyverno generated to it.
type generatedObject struct {
	policy   string
	kind     string
	spec     map[string]any
	controls []string
}

// generatedObjects reads the objects the bundle's GeneratingPolicies generate. Bulwark writes
// each as a CEL variable whose expression is a constant object literal (the generator applies
// the same objects in every namespace), so evaluating the literal gives the object exactly;
// a variable that is not a constant object is not one of them.
func generatedObjects(desired map[string]map[string]any) (map[string]generatedObject, error) {
	out := map[string]generatedObject{}
	env, err := cel.NewEnv()
	if err != nil {
		return nil, err
	}
	for file, obj := range desired {
		if obj["apiVersion"] != generatingPolicyGVK.GroupVersion().String() || obj["kind"] != generatingPolicyGVK.Kind {
			continue
		}
		u := unstructured.Unstructured{Object: obj}
		vars, _, _ := unstructured.NestedSlice(obj, "spec", "variables")
		for _, v := range vars {
			m, _ := v.(map[string]any)
			expr, _ := m["expression"].(string)
			gen, ok, err := constantObject(env, expr)
			if err != nil {
				return nil, fmt.Errorf("bundle file %s: variable %v: %w", file, m["name"], err)
			}
			if !ok {
				continue
			}
			kind, _ := gen["kind"].(string)
			name, _, _ := unstructured.NestedString(gen, "metadata", "name")
			spec, _ := gen["spec"].(map[string]any)
			if kind == "" || name == "" || spec == nil {
				continue
			}
			ann, _, _ := unstructured.NestedString(gen, "metadata", "annotations", api.AnnotationControls)
			var controls []string
			for _, c := range strings.Split(ann, ",") {
				if c = strings.TrimSpace(c); c != "" {
					controls = append(controls, c)
				}
			}
			out[kind+"/"+name] = generatedObject{policy: u.GetName(), kind: kind, spec: spec, controls: controls}
		}
	}
	return out, nil
}

// constantObject evaluates expr if it is a constant map literal (it reads no variable).
func constantObject(env *cel.Env, expr string) (map[string]any, bool, error) {
	ast, iss := env.Parse(expr)
	if iss.Err() != nil {
		return nil, false, nil // not a literal of ours; the policy's own CEL is Kyverno's business
	}
	prg, err := env.Program(ast)
	if err != nil {
		return nil, false, nil
	}
	val, _, err := prg.Eval(map[string]any{})
	if err != nil {
		return nil, false, nil // reads an input: not a constant
	}
	pb, err := val.ConvertToNative(reflect.TypeOf(&structpb.Value{}))
	if err != nil {
		return nil, false, nil
	}
	data, err := protojson.Marshal(pb.(*structpb.Value))
	if err != nil {
		return nil, false, err
	}
	var out map[string]any
	if err := json.Unmarshal(data, &out); err != nil {
		return nil, false, nil // not an object
	}
	return out, true, nil
}

// checkGenerated holds every object of kind gk in an in-scope namespace that bears the name of an object
// a bundle GeneratingPolicy generates, and that the bundle does not ship statically there, to
// exactly the generated spec: Kyverno writes it so, and anyone who edits it after (Kyverno's
// synchronize may not have run yet, or was switched off) weakens the namespace.
func (v *verifier) checkGenerated(ns string, gk schema.GroupKind, live []*unstructured.Unstructured) {
	for _, l := range live {
		g, ok := v.in.generated[gk.Kind+"/"+l.GetName()]
		if !ok || v.in.static[objKey(gk, ns, l.GetName())] {
			continue
		}
		got, _ := l.Object["spec"].(map[string]any)
		d, same := subset(g.spec, got)
		if same {
			d, same = subset(got, g.spec)
			d.want, d.got = d.got, d.want
		}
		if !same {
			v.add(CheckCoverage, Fail, g.controls, refOf(l), "%s %s/%s differs from what GeneratingPolicy %s generates, at .spec%s: generated %s, cluster has %s",
				gk.Kind, ns, l.GetName(), g.policy, d.path, short(d.want), short(d.got))
		}
	}
}
