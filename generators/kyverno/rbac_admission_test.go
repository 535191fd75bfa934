package kyverno_test

import (
	"context"
	"fmt"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"bulwark.dev/bulwark/internal/testenv"
)

// TestRealKyvernoRBACExemptionIsTheAPIServer runs the payments bundle's RBAC policies in
// Kyverno's real admission controller and checks whose requests their exemption covers: the
// kube-apiserver's own loopback identity (system:apiserver in system:masters), with which it
// reconciles its bootstrap roles and bindings. An object's system: name or rbac-defaults label
// exempts nothing, whoever creates it; nor does system:masters alone.
//
// The API server's real start-up reconciliation runs before Kyverno's webhooks exist, so a
// client certificate for the same identity stands in for it: any holder of one is, to the API
// server, the API server.
func TestRealKyvernoRBACExemptionIsTheAPIServer(t *testing.T) {
	t.Parallel() // own cluster and Kyverno; most of a start is waiting
	r := startRealKyverno(t, "payments", setup{
		only: []string{
			"ValidatingPolicy/payments-soc2-iam-01",
			"ValidatingPolicy/payments-soc2-iam-02",
			"ValidatingPolicy/payments-soc2-iam-03",
			"ValidatingPolicy/payments-soc2-sec-02",
		},
		// An ordinary user who may manage cluster RBAC, through RBAC, not system:masters.
		before: func(client *testenv.Client) {
			for _, o := range []*unstructured.Unstructured{
				obj(`{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
					"metadata": {"name": "rbac-manager"},
					"rules": [
						{"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["clusterroles", "clusterrolebindings"], "verbs": ["create", "get", "list"]},
						{"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["clusterroles"], "verbs": ["bind", "escalate"]}]}`),
				obj(`{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
					"metadata": {"name": "rbac-manager"},
					"roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "rbac-manager"},
					"subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "rbac-manager"}]}`),
			} {
				if err := client.Apply(context.Background(), o, false); err != nil {
					t.Fatal(err)
				}
			}
		},
	})
	as := func(user string, groups ...string) func(*unstructured.Unstructured) error {
		client := testenv.NewClient(r.c.UserConfig(t, user, groups...))
		return func(o *unstructured.Unstructured) error {
			ri, err := client.Resource(o.GroupVersionKind(), "")
			if err != nil {
				return err
			}
			_, err = ri.Create(context.Background(), o, metav1.CreateOptions{})
			return err
		}
	}
	binding := func(name, role, subjectKind, subject string) *unstructured.Unstructured {
		return obj(fmt.Sprintf(`{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
			"metadata": {"name": %q, "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"}},
			"roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": %q},
			"subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": %q, "name": %q}]}`, name, role, subjectKind, subject))
	}
	wildcardRole := func(name string) *unstructured.Unstructured {
		return obj(fmt.Sprintf(`{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
			"metadata": {"name": %q, "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"}},
			"rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["*"]}]}`, name))
	}

	manager := as("rbac-manager")
	// Without the policies RBAC would let rbac-manager do this: she may bind any ClusterRole.
	deniedByKyverno(t, "rbac-manager's system:totally-legit binding of cluster-admin to system:anonymous",
		manager(binding("system:totally-legit", "cluster-admin", "User", "system:anonymous")), "IAM-01", "IAM-02")
	deniedByKyverno(t, "rbac-manager's system:-named ClusterRole with wildcard verbs on Secrets",
		manager(wildcardRole("system:totally-legit")), "IAM-03", "SEC-02")

	// The test's cluster administrator (system:masters) is not the API server either.
	admin := as("admin", "system:masters")
	deniedByKyverno(t, "a system:masters user's system:-named binding of cluster-admin to system:anonymous",
		admin(binding("system:totally-legit-admin", "cluster-admin", "User", "system:anonymous")), "IAM-01", "IAM-02")
	// The API server's own identity is exempt, as its bootstrap reconciliation needs.
	apiserver := as("system:apiserver", "system:masters")
	if err := apiserver(binding("system:bulwark-reconciled", "cluster-admin", "Group", "system:masters")); err != nil {
		t.Errorf("the API server's identity binding cluster-admin was refused: %v", err)
	}
	if err := apiserver(wildcardRole("system:controller:bulwark-reconciled")); err != nil {
		t.Errorf("the API server's identity creating a system:controller: ClusterRole with wildcard verbs was refused: %v", err)
	}
}
