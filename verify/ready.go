package verify

import (
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"bulwark.dev/bulwark/bundle"
)

// ready checks what controllers report: Kyverno policies, cert-manager issuers and
// certificates. Kinds no controller reports on are ready once they match.
func (v *verifier) ready(o bundle.IndexObject, live *unstructured.Unstructured) {
	gv, _ := schema.ParseGroupVersion(o.APIVersion)
	switch {
	case gv.Group == "policies.kyverno.io" && o.Kind != "PolicyException":
		controls := v.withLOG02(o.Controls)
		ready, found, _ := unstructured.NestedBool(live.Object, "status", "conditionStatus", "ready")
		switch {
		case !found:
			v.add(CheckReady, Fail, controls, ref(o), "%s %s reports no readiness (status.conditionStatus.ready): is Kyverno running and does it serve policies.kyverno.io/v1?", o.Kind, name(o))
		case !ready:
			v.add(CheckReady, Fail, controls, ref(o), "%s %s is not ready: %s", o.Kind, name(o), kyvernoConditions(live))
		default:
			v.add(CheckReady, Pass, controls, ref(o), "%s %s is ready", o.Kind, name(o))
		}
	case gv.Group == "cert-manager.io" && (o.Kind == "ClusterIssuer" || o.Kind == "Issuer" || o.Kind == "Certificate"):
		switch st, reason, msg := condition(live, "Ready"); st {
		case "True":
			v.add(CheckReady, Pass, o.Controls, ref(o), "%s %s is Ready", o.Kind, name(o))
		case "":
			v.add(CheckReady, Fail, o.Controls, ref(o), "%s %s has no Ready condition: is cert-manager running?", o.Kind, name(o))
		default:
			v.add(CheckReady, Fail, o.Controls, ref(o), "%s %s is not Ready (%s): %s", o.Kind, name(o), st+", "+reason, msg)
		}
	}
}

// condition returns the status, reason and message of a status condition.
func condition(obj *unstructured.Unstructured, typ string) (string, string, string) {
	conds, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == typ {
			status, _ := m["status"].(string)
			reason, _ := m["reason"].(string)
			msg, _ := m["message"].(string)
			return status, reason, msg
		}
	}
	return "", "", ""
}

// kyvernoConditions summarises the conditions Kyverno reports as not true.
func kyvernoConditions(obj *unstructured.Unstructured) string {
	conds, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditionStatus", "conditions")
	var msgs []string
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["status"] != "True" {
			msgs = append(msgs, fmt.Sprintf("%v: %v", m["type"], m["message"]))
		}
	}
	if len(msgs) == 0 {
		return "status.conditionStatus.ready is false"
	}
	sort.Strings(msgs)
	return strings.Join(msgs, "; ")
}
