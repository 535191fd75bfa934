package network

import (
	"context"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"bulwark.dev/bulwark/generators/generated"
	"bulwark.dev/bulwark/internal/testenv"
)

// TestAPIServerAdmitsEveryShape creates, by server-side dry-run with strict field
// validation, every object the generator emits for profiles shaped unlike the examples:
// the API server's NetworkPolicy validation and the upstream GeneratingPolicy CRD schema
// have the last word on whether the bundle can be applied.
func TestAPIServerAdmitsEveryShape(t *testing.T) {
	cat := loadCatalogue(t)
	c := testenv.StartCluster(t)
	testenv.InstallCRDs(t, c.Config, "kyverno")
	client := testenv.NewClient(c.Config)
	ctx := context.Background()
	specs := map[string]string{
		"defaults":             "network: {ingressNamespaces: [ingress-nginx, traefik]}",
		"ingress only, istio":  "network: {defaultDeny: [Ingress], ingressNamespaces: [ingress-nginx]}\nmesh: {provider: istio}",
		"egress only, istio":   "network: {defaultDeny: [Egress], dnsNamespace: dns}\nmesh: {provider: istio, rootNamespace: mesh-root}",
		"root as ingress":      "network: {ingressNamespaces: [istio-system]}\nmesh: {provider: istio}",
		"no DNS, no ingress":   "network: {allowDNS: false}",
		"selector expressions": "namespaces: {selector: {matchExpressions: [{key: team, operator: Exists}, {key: tier, operator: NotIn, values: [sandbox]}]}}\nnetwork: {}",
	}
	for name, spec := range specs {
		t.Run(name, func(t *testing.T) {
			objs, err := Generate(load(t, cat, spec), cat)
			if err != nil {
				t.Fatal(err)
			}
			if len(objs) == 0 {
				t.Fatal("no objects: nothing to check")
			}
			for _, o := range objs {
				data, err := generated.Marshal(o.Object)
				if err != nil {
					t.Fatal(err)
				}
				u, err := testenv.DecodeYAML(data)
				if err != nil || len(u) != 1 {
					t.Fatalf("%s: %v (%d objects)", o.Object.GetName(), err, len(u))
				}
				if ns := u[0].GetNamespace(); ns != "" {
					client.Namespaces(t, ns)
				}
				if err := client.CreateStrict(ctx, u[0]); err != nil {
					t.Errorf("%s %s/%s refused:\n%s\n%v", u[0].GetKind(), u[0].GetNamespace(), u[0].GetName(), data, err)
				}
			}
		})
	}

	// The check has teeth: objects the server's validation or the CRD schema forbid fail.
	client.Namespaces(t, "teeth")
	for what, js := range map[string]string{
		"NetworkPolicy with an unknown protocol":  `{"apiVersion":"networking.k8s.io/v1","kind":"NetworkPolicy","metadata":{"name":"bad","namespace":"teeth"},"spec":{"podSelector":{},"policyTypes":["Egress"],"egress":[{"ports":[{"protocol":"ICMP","port":53}]}]}}`,
		"NetworkPolicy with an unknown field":     `{"apiVersion":"networking.k8s.io/v1","kind":"NetworkPolicy","metadata":{"name":"bad","namespace":"teeth"},"spec":{"podSelector":{},"denyAll":true}}`,
		"GeneratingPolicy that generates nothing": `{"apiVersion":"policies.kyverno.io/v1","kind":"GeneratingPolicy","metadata":{"name":"bad"},"spec":{"matchConstraints":{"resourceRules":[{"apiGroups":[""],"apiVersions":["v1"],"operations":["CREATE"],"resources":["namespaces"]}]},"generate":[]}}`,
	} {
		u, err := testenv.DecodeYAML([]byte(js))
		if err != nil {
			t.Fatal(err)
		}
		// Invalid (422) or BadRequest (400, strict decoding): refused for its content, not
		// for a missing kind or an unreachable server.
		if err := client.CreateStrict(ctx, u[0]); !apierrors.IsInvalid(err) && !apierrors.IsBadRequest(err) {
			t.Errorf("%s was not refused for its content: %v", what, err)
		} else {
			t.Logf("%s: %v", what, err)
		}
	}
}
