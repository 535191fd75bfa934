// Package certmanager realises TLS-04's issuers: the profile's cert-manager ClusterIssuers,
// including a self-signed bootstrap chain (a SelfSigned issuer signs a CA Certificate whose
// key pair backs a CA issuer). The Certificate and Ingress policies (TLS-03/04/05) come from
// the catalogue rules through the Kyverno generator.
package certmanager
