package profile

import (
	"encoding/json"
	"reflect"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// enums and descriptions the Go types cannot carry, by JSON path in the schema walk.
var (
	schemaEnums = map[string][]any{
		"apiVersion":                  {APIVersion},
		"kind":                        {Kind},
		"spec.framework":              {"soc2"},
		"spec.enforcement":            {"Enforce", "Audit"},
		"spec.network.defaultDeny[]":  {"Ingress", "Egress"},
		"spec.mesh.provider":          {"none", "istio"},
		"spec.mesh.mtls":              {"STRICT"},
		"spec.controls.enforcement{}": {"Enforce", "Audit"},
		"spec.namespaces.selector.matchExpressions[].operator":  {"In", "NotIn", "Exists", "DoesNotExist"},
		"spec.namespaces.sensitive.matchExpressions[].operator": {"In", "NotIn", "Exists", "DoesNotExist"},
	}
	schemaDescriptions = map[string]string{
		"":                                      "A Bulwark compliance profile: which framework, which namespaces, and how each control is realised.",
		"metadata.name":                         "Profile name (DNS-1123 label); labels every generated object.",
		"spec.framework":                        "Compliance framework.",
		"spec.enforcement":                      "Default action of admission controls: Enforce denies, Audit reports.",
		"spec.namespaces":                       "Which namespaces are in scope, and which are in the sensitive tier.",
		"spec.namespaces.selector":              "Namespaces in scope by label, now and in the future.",
		"spec.namespaces.include":               "Namespaces in scope by name; they get static objects in the bundle.",
		"spec.namespaces.exclude":               "Namespaces never in scope. Defaults to the platform namespaces.",
		"spec.namespaces.sensitive":             "In-scope namespaces in the stricter tier, by label.",
		"spec.namespaces.sensitiveInclude":      "In-scope namespaces in the stricter tier, by name.",
		"spec.images.allowedRegistries":         "Image reference prefixes workloads may use, e.g. ghcr.io/acme/.",
		"spec.images.signatureKeys":             "cosign public keys; images must be signed by one of them.",
		"spec.network.defaultDeny":              "Policy types denied by default. Defaults to Ingress and Egress.",
		"spec.network.allowDNS":                 "Allow egress to cluster DNS on port 53. Defaults to true.",
		"spec.network.ingressNamespaces":        "Namespaces of ingress controllers allowed to reach workloads.",
		"spec.network.dnsNamespace":             "Namespace of cluster DNS. Defaults to kube-system.",
		"spec.mesh.provider":                    "Service mesh. Defaults to none.",
		"spec.mesh.mtls":                        "Mesh-wide mTLS mode. Defaults to STRICT.",
		"spec.mesh.rootNamespace":               "Mesh root namespace. Defaults to istio-system.",
		"spec.tls.requireIngressTLS":            "Every Ingress must declare TLS for all its hosts. Defaults to true.",
		"spec.tls.issuers":                      "cert-manager ClusterIssuers to emit; Certificates must use one. Set exactly one of acme, ca, vault, selfSigned.",
		"spec.controls.disable":                 "Control ids not generated.",
		"spec.controls.enforcement":             "Per-control override of spec.enforcement.",
		"spec.controls.params":                  "Control parameters by control id, then parameter name (see 'bulwark controls show ID').",
		"spec.exceptions":                       "Time-bound waivers of controls for named namespaces.",
		"spec.exceptions[].expires":             "Last day the exception holds (YYYY-MM-DD, UTC).",
		"spec.exceptions[].reason":              "Why the waiver was granted, for the auditor.",
		"spec.exceptions[].ticket":              "Tracking reference of the approval.",
		"spec.images.signatureKeys[].publicKey": "PEM PUBLIC KEY block.",
	}
	schemaRequired = map[string][]string{
		"":                            {"apiVersion", "kind", "metadata", "spec"},
		"metadata":                    {"name"},
		"spec":                        {"framework", "namespaces"},
		"spec.exceptions[]":           {"controls", "namespaces", "reason", "expires"},
		"spec.tls.issuers[]":          {"name"},
		"spec.images.signatureKeys[]": {"name", "publicKey"},
		"spec.tls.issuers[].acme":     {"server", "email"},
		"spec.tls.issuers[].ca":       {"secretName"},
		"spec.tls.issuers[].vault":    {"server", "path", "role", "serviceAccount"},
	}
)

// Schema returns a JSON Schema (draft 2020-12) of the profile, for editors.
func Schema() []byte {
	s := schemaFor(reflect.TypeOf(Profile{}), "")
	s["$schema"] = "https://json-schema.org/draft/2020-12/schema"
	s["$id"] = "https://bulwark.dev/schemas/profile-v1alpha1.json"
	s["title"] = "Bulwark Profile (" + APIVersion + ")"
	out, _ := json.MarshalIndent(s, "", "  ") // maps of plain values always marshal
	return append(out, '\n')
}

var labelSelectorType = reflect.TypeOf(metav1.LabelSelector{})

func schemaFor(t reflect.Type, path string) map[string]any {
	s := map[string]any{}
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == dateType:
		s["type"] = "string"
		s["format"] = "date"
		s["pattern"] = `^\d{4}-\d{2}-\d{2}$`
	case t.Kind() == reflect.Struct:
		s["type"] = "object"
		s["additionalProperties"] = false
		props := map[string]any{}
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name := strings.Split(f.Tag.Get("json"), ",")[0]
			if name == "" || name == "-" || !f.IsExported() {
				continue
			}
			props[name] = schemaFor(f.Type, joinSchema(path, name))
		}
		s["properties"] = props
		if t == labelSelectorType {
			s["description"] = "A Kubernetes label selector."
		}
		if req, ok := schemaRequired[path]; ok {
			s["required"] = req
		}
	case t.Kind() == reflect.Map:
		s["type"] = "object"
		s["additionalProperties"] = schemaFor(t.Elem(), path+"{}")
	case t.Kind() == reflect.Slice:
		s["type"] = "array"
		s["items"] = schemaFor(t.Elem(), path+"[]")
	case t.Kind() == reflect.String:
		s["type"] = "string"
	case t.Kind() == reflect.Bool:
		s["type"] = "boolean"
	case t.Kind() == reflect.Int, t.Kind() == reflect.Int32, t.Kind() == reflect.Int64:
		s["type"] = "integer"
	case t.Kind() == reflect.Interface:
		// free-form control parameter
	}
	if e, ok := schemaEnums[path]; ok {
		s["enum"] = e
	}
	if d, ok := schemaDescriptions[path]; ok {
		s["description"] = d
	}
	return s
}

func joinSchema(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}
