package profile

import (
	"encoding/json"
	"fmt"
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

// SchemaOptions tune Schema.
type SchemaOptions struct {
	// Params describes each control's parameters by control id, as LoadOptions.Params does.
	// spec.controls.params then admits only these control ids, each only its parameters, each
	// typed and constrained. Nil leaves spec.controls.params free-form.
	Params map[string][]ParamSpec
}

// Schema returns a JSON Schema (draft 2020-12) of the profile, for editors.
func Schema(opts SchemaOptions) []byte {
	s := schemaFor(reflect.TypeOf(Profile{}), "")
	if opts.Params != nil {
		controls := s["properties"].(map[string]any)["spec"].(map[string]any)["properties"].(map[string]any)["controls"].(map[string]any)["properties"].(map[string]any)
		controls["params"] = paramsSchema(opts.Params)
	}
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

// paramsSchema constrains spec.controls.params: known control ids only, each an object of
// its own parameters only.
func paramsSchema(specs map[string][]ParamSpec) map[string]any {
	props := map[string]any{}
	for id, list := range specs {
		ps := map[string]any{}
		for _, spec := range list {
			ps[spec.Name] = spec.schema()
		}
		props[id] = map[string]any{
			"type":                 "object",
			"additionalProperties": false,
			"properties":           ps,
			"description":          "Parameters of " + id + " (see 'bulwark controls show " + id + "').",
		}
	}
	return map[string]any{
		"type":                 "object",
		"additionalProperties": false,
		"properties":           props,
		"description":          schemaDescriptions["spec.controls.params"],
	}
}

// durationPattern matches a positive Go duration without a sign, e.g. 2160h or 1h30m.
const durationPattern = `^(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+$`

// schema renders the spec as a JSON Schema; what a schema cannot say (duration bounds) is
// written into the description, and Load still checks it.
func (s ParamSpec) schema() map[string]any {
	out := map[string]any{}
	desc := s.Description
	switch s.Type {
	case ParamString:
		out["type"] = "string"
		s.stringSchema(out)
	case ParamInt:
		out["type"] = "integer"
		if s.Minimum != nil {
			out["minimum"] = *s.Minimum
		}
		if s.Maximum != nil {
			out["maximum"] = *s.Maximum
		}
	case ParamBool:
		out["type"] = "boolean"
	case ParamDuration:
		out["type"] = "string"
		out["pattern"] = durationPattern
		var bounds []string
		if s.MinDuration != 0 {
			bounds = append(bounds, "at least "+shortDuration(s.MinDuration))
		}
		if s.MaxDuration != 0 {
			bounds = append(bounds, "at most "+shortDuration(s.MaxDuration))
		}
		if len(bounds) > 0 {
			b := strings.Join(bounds, " and ")
			desc = strings.TrimSpace(fmt.Sprintf("%s %s%s.", desc, strings.ToUpper(b[:1]), b[1:]))
		}
	case ParamStringList:
		out["type"] = "array"
		out["uniqueItems"] = true
		items := map[string]any{"type": "string"}
		s.stringSchema(items)
		out["items"] = items
	}
	if desc != "" {
		out["description"] = desc
	}
	if s.Default != nil {
		out["default"] = s.Default
	}
	return out
}

// stringSchema adds the constraints of Enum and Format to the schema of a string.
func (s ParamSpec) stringSchema(out map[string]any) {
	if len(s.Enum) > 0 {
		out["enum"] = s.Enum
		return
	}
	switch s.Format {
	case FormatLabelKey:
		out["pattern"] = labelKeyPattern
		out["maxLength"] = 253 + 1 + 63
	case FormatNamespace:
		out["pattern"] = dnsLabelPattern
		out["maxLength"] = 63
	case FormatDNSSubdomain:
		out["pattern"] = dnsSubdomainPattern
		out["maxLength"] = 253
	case FormatRBACName:
		out["pattern"] = `^[^/%]+$`
		out["not"] = map[string]any{"enum": []string{".", ".."}}
	case FormatUsername:
		out["pattern"] = `^\S(.*\S)?$`
	case FormatCapability:
		out["enum"] = Capabilities
	case FormatSysctl:
		out["pattern"] = sysctlRE.String()
		out["maxLength"] = sysctlMaxLength
	case FormatSELinuxType:
		out["pattern"] = selinuxTypeRE.String()
	case FormatRegistryPrefix:
		out["pattern"] = registryPrefixRE.String()
	case FormatRegexp:
		out["format"] = "regex"
		out["minLength"] = 1
	}
}

// Patterns of Kubernetes names, as the apimachinery validation functions check them.
const (
	dnsLabelPattern     = `^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	dnsSubdomainPattern = `^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	labelKeyPattern     = `^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$`
)
