package verify

import (
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var podGVR = schema.GroupVersionResource{Version: "v1", Resource: "pods"}

// auditLogging checks LOG-01 where the control plane is visible: kube-apiserver static
// pods must run with an audit policy and a log or webhook backend. Managed control planes
// hide the API server; that is reported as a warning to check with the provider, never as
// a pass.
func (v *verifier) auditLogging() error {
	if !v.enabled(controlAuditLog) {
		return nil
	}
	list, err := v.dyn.Resource(podGVR).Namespace("kube-system").List(v.ctx, metav1.ListOptions{LabelSelector: "component=kube-apiserver"})
	if apierrors.IsForbidden(err) {
		v.add(CheckCoverage, Warn, []string{controlAuditLog}, nil, "cannot read kube-system pods to check API server audit logging (grant the optional Role in examples/verify-clusterrole.yaml)")
		return nil
	}
	if err != nil {
		return err
	}
	if len(list.Items) == 0 {
		v.add(CheckCoverage, Warn, []string{controlAuditLog}, nil, "the API server does not run as a visible pod (managed control plane?): confirm audit logging with the provider")
		return nil
	}
	for i := range list.Items {
		pod := &list.Items[i]
		var args []string
		containers, _, _ := unstructured.NestedSlice(pod.Object, "spec", "containers")
		for _, c := range containers {
			m, _ := c.(map[string]any)
			for _, key := range []string{"command", "args"} {
				items, _ := m[key].([]any)
				for _, a := range items {
					if s, ok := a.(string); ok {
						args = append(args, s)
					}
				}
			}
		}
		has := func(flag string) bool {
			for _, a := range args {
				if a == flag || strings.HasPrefix(a, flag+"=") {
					return true
				}
			}
			return false
		}
		if has("--audit-policy-file") && (has("--audit-log-path") || has("--audit-webhook-config-file")) {
			v.add(CheckCoverage, Pass, []string{controlAuditLog}, refOf(pod), "kube-apiserver %s runs with an audit policy and backend", pod.GetName())
		} else {
			v.add(CheckCoverage, Fail, []string{controlAuditLog}, refOf(pod), "kube-apiserver %s runs without audit logging (needs --audit-policy-file and --audit-log-path or --audit-webhook-config-file)", pod.GetName())
		}
	}
	return nil
}
