package verify

// The controls verify checks itself, beyond the presence and readiness of each bundle
// object, named once here. Probes lists them; a catalogue test holds every verify-only
// control of the catalogue to it.
const (
	controlDefaultDeny  = "NET-01" // every in-scope namespace denies by default
	controlDNS          = "NET-02" // ... and lets every pod reach DNS
	controlIngress      = "NET-03" // ... and the declared ingress namespaces (and the mesh) reach every pod
	controlPSA          = "POD-00" // ... and enforces its Pod Security level
	controlMeshMTLS     = "TLS-01" // STRICT mTLS mesh-wide, nothing weaker per namespace
	controlMeshEnrolled = "TLS-02" // every in-scope namespace enrolled in the mesh
	controlPolicyPlane  = "CHG-02" // GitOps serves the bundle's digest; no exception has expired
	controlAuditLog     = "LOG-01" // the API server writes an audit log
	controlEngineReady  = "LOG-02" // every bundle policy reported ready by Kyverno
)

// namespaceControls are the controls judged per in-scope namespace by coverage.
var namespaceControls = []string{controlDefaultDeny, controlDNS, controlIngress, controlPSA, controlMeshMTLS, controlMeshEnrolled}

// Probes lists the controls verify checks itself.
func Probes() []string {
	return []string{controlDefaultDeny, controlDNS, controlPSA, controlMeshMTLS, controlMeshEnrolled, controlPolicyPlane, controlAuditLog, controlEngineReady}
}
