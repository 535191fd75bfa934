// Package certmanager realises TLS-04's issuers: the profile's cert-manager ClusterIssuers,
// including a self-signed bootstrap chain (a SelfSigned issuer signs a CA Certificate whose
// key pair backs a CA issuer). The Certificate and Ingress policies (TLS-03/04/05) come from
// the catalogue rules through the Kyverno generator.
package certmanager

import (
	"time"

	acmev1 "github.com/cert-manager/cert-manager/pkg/apis/acme/v1"
	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"bulwark.dev/bulwark/generators/meta"
	"bulwark.dev/bulwark/profile"
	"bulwark.dev/bulwark/templates"
)

// Namespace is cert-manager's cluster resource namespace, where ClusterIssuers find their
// Secrets and where the bootstrap CA Certificate lives.
const Namespace = "cert-manager"

// defaultCADuration bounds the bootstrap CA's lifetime when TLS-05 sets no maximum.
const defaultCADuration = 2160 * time.Hour

func clusterIssuer(name string, cfg cmapi.IssuerConfig) *cmapi.ClusterIssuer {
	return &cmapi.ClusterIssuer{
		TypeMeta:   metav1.TypeMeta{APIVersion: "cert-manager.io/v1", Kind: "ClusterIssuer"},
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       cmapi.IssuerSpec{IssuerConfig: cfg},
	}
}

// caDuration keeps the bootstrap CA within TLS-05's maximum lifetime.
func caDuration(p *profile.Profile, cat *templates.Catalogue) time.Duration {
	if !p.ControlEnabled("TLS-05") {
		return defaultCADuration
	}
	v, ok := p.Param("TLS-05", "maxDuration")
	if !ok {
		if c, found := cat.Get("TLS-05"); found {
			v, _ = c.Default("maxDuration")
		}
	}
	if s, isString := v.(string); isString {
		if d, err := time.ParseDuration(s); err == nil && d > 0 {
			return d
		}
	}
	return defaultCADuration
}

// Generate emits one ClusterIssuer per profile issuer; a selfSigned issuer becomes its
// three-object bootstrap chain.
func Generate(p *profile.Profile, cat *templates.Catalogue) ([]meta.Object, error) {
	if !p.ControlEnabled("TLS-04") {
		return nil, nil
	}
	var out []meta.Object
	add := func(obj meta.KubeObject) {
		out = append(out, meta.Object{Dir: meta.DirTLS, Object: obj, Controls: []string{"TLS-04"}})
	}
	for _, is := range p.Spec.TLS.Issuers {
		switch {
		case is.ACME != nil:
			solver := acmev1.ACMEChallengeSolver{HTTP01: &acmev1.ACMEChallengeSolverHTTP01{Ingress: &acmev1.ACMEChallengeSolverHTTP01Ingress{}}}
			if is.ACME.HTTP01IngressClass != "" {
				class := is.ACME.HTTP01IngressClass
				solver.HTTP01.Ingress.IngressClassName = &class
			}
			add(clusterIssuer(is.Name, cmapi.IssuerConfig{ACME: &acmev1.ACMEIssuer{
				Email:      is.ACME.Email,
				Server:     is.ACME.Server,
				PrivateKey: cmmeta.SecretKeySelector{LocalObjectReference: cmmeta.LocalObjectReference{Name: is.ACME.PrivateKeySecretName}},
				Solvers:    []acmev1.ACMEChallengeSolver{solver},
			}}))
		case is.CA != nil:
			add(clusterIssuer(is.Name, cmapi.IssuerConfig{CA: &cmapi.CAIssuer{SecretName: is.CA.SecretName}}))
		case is.Vault != nil:
			v := &cmapi.VaultIssuer{
				Server: is.Vault.Server,
				Path:   is.Vault.Path,
				Auth: cmapi.VaultAuth{Kubernetes: &cmapi.VaultKubernetesAuth{
					Path:              is.Vault.MountPath,
					Role:              is.Vault.Role,
					ServiceAccountRef: &cmapi.ServiceAccountRef{Name: is.Vault.ServiceAccount},
				}},
			}
			if is.Vault.CABundleSecretName != "" {
				v.CABundleSecretRef = &cmmeta.SecretKeySelector{LocalObjectReference: cmmeta.LocalObjectReference{Name: is.Vault.CABundleSecretName}, Key: "ca.crt"}
			}
			add(clusterIssuer(is.Name, cmapi.IssuerConfig{Vault: v}))
		case is.SelfSigned != nil:
			root := is.Name + "-selfsigned"
			secret := is.Name + "-ca"
			add(clusterIssuer(root, cmapi.IssuerConfig{SelfSigned: &cmapi.SelfSignedIssuer{}}))
			add(&cmapi.Certificate{
				TypeMeta:   metav1.TypeMeta{APIVersion: "cert-manager.io/v1", Kind: "Certificate"},
				ObjectMeta: metav1.ObjectMeta{Name: secret, Namespace: Namespace},
				Spec: cmapi.CertificateSpec{
					IsCA:       true,
					CommonName: is.SelfSigned.CommonName,
					SecretName: secret,
					Duration:   &metav1.Duration{Duration: caDuration(p, cat)},
					PrivateKey: &cmapi.CertificatePrivateKey{Algorithm: cmapi.ECDSAKeyAlgorithm, Size: 256},
					IssuerRef:  cmmeta.IssuerReference{Name: root, Kind: "ClusterIssuer", Group: "cert-manager.io"},
				},
			})
			add(clusterIssuer(is.Name, cmapi.IssuerConfig{CA: &cmapi.CAIssuer{SecretName: secret}}))
		}
	}
	return out, nil
}
