package certmanager

import (
	"fmt"
	"maps"
	"slices"
	"time"

	acmev1 "github.com/cert-manager/cert-manager/pkg/apis/acme/v1"
	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"bulwark.dev/bulwark/api"
	"bulwark.dev/bulwark/catalogue"
	"bulwark.dev/bulwark/generators/generated"
	"bulwark.dev/bulwark/profile"
)

// Namespace is cert-manager's cluster resource namespace, where ClusterIssuers find their
// Secrets and where the bootstrap CA Certificate lives.
const Namespace = "cert-manager"

// DefaultCADuration is the bootstrap CA's lifetime when TLS-05 is off, and TLS-05's own
// default maximum: cert-manager's default certificate duration, 90 days.
const DefaultCADuration = 2160 * time.Hour

// caBundleKey is the key cert-manager reads a CA bundle from by convention.
const caBundleKey = "ca.crt"

const (
	group             = "cert-manager.io"
	apiVersion        = group + "/v1"
	selfSignedSuffix  = "-selfsigned"
	caSecretSuffix    = "-ca"
	minimumCADuration = cmapi.MinimumCertificateDuration
)

func clusterIssuer(name string, cfg cmapi.IssuerConfig) *cmapi.ClusterIssuer {
	return &cmapi.ClusterIssuer{
		TypeMeta:   metav1.TypeMeta{APIVersion: apiVersion, Kind: cmapi.ClusterIssuerKind},
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       cmapi.IssuerSpec{IssuerConfig: cfg},
	}
}

// CADuration is the bootstrap CA certificate's lifetime: TLS-05's maxDuration when that
// control is on, so the bundle's own Certificate passes the lifetime policy wherever it
// applies; DefaultCADuration otherwise.
func CADuration(p *profile.Profile, cat *catalogue.Catalogue) (time.Duration, error) {
	if !p.ControlEnabled(controlLifetime) {
		return DefaultCADuration, nil
	}
	v, ok := p.Param(controlLifetime, "maxDuration")
	if !ok && cat != nil {
		if c, found := cat.Get(controlLifetime); found {
			v, ok = c.Default("maxDuration")
		}
	}
	if !ok {
		return DefaultCADuration, nil
	}
	s, isString := v.(string)
	if !isString {
		return 0, fmt.Errorf("TLS-05 maxDuration: want a duration such as 2160h, got %T", v)
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("TLS-05 maxDuration %q: %w", s, err)
	}
	// cert-manager refuses shorter certificates, so no bootstrap CA could satisfy TLS-05.
	if d < minimumCADuration {
		return 0, fmt.Errorf("TLS-05 maxDuration %s is below cert-manager's minimum certificate duration %s: the bootstrap CA cannot satisfy it", d, minimumCADuration)
	}
	return d, nil
}

// Generate emits one ClusterIssuer per profile issuer, in profile order; a selfSigned
// issuer becomes its three-object bootstrap chain.
func Generate(p *profile.Profile, cat *catalogue.Catalogue) ([]generated.Object, error) {
	if !p.ControlEnabled(controlIssuers) || len(p.Spec.TLS.Issuers) == 0 {
		return nil, nil
	}
	if err := checkNames(p); err != nil {
		return nil, err
	}
	var out []generated.Object
	add := func(obj generated.KubeObject) {
		out = append(out, generated.Object{Dir: api.DirTLS, Object: obj, Controls: []string{controlIssuers}})
	}
	for _, is := range p.Spec.TLS.Issuers {
		switch {
		case is.ACME != nil:
			add(clusterIssuer(is.Name, cmapi.IssuerConfig{ACME: acme(is.ACME)}))
		case is.CA != nil:
			add(clusterIssuer(is.Name, cmapi.IssuerConfig{CA: &cmapi.CAIssuer{SecretName: is.CA.SecretName}}))
		case is.Vault != nil:
			add(clusterIssuer(is.Name, cmapi.IssuerConfig{Vault: vault(is.Vault)}))
			role, binding := vaultTokenRBAC(p, is.Name, is.Vault)
			add(role)
			add(binding)
		case is.SelfSigned != nil:
			d, err := CADuration(p, cat)
			if err != nil {
				return nil, fmt.Errorf("issuer %s: %w", is.Name, err)
			}
			root, secret := is.Name+selfSignedSuffix, is.Name+caSecretSuffix
			// The SelfSigned issuer exists only to sign the CA below; TLS-04 keeps
			// Certificates in application namespaces from naming it.
			add(clusterIssuer(root, cmapi.IssuerConfig{SelfSigned: &cmapi.SelfSignedIssuer{}}))
			add(&cmapi.Certificate{
				TypeMeta:   metav1.TypeMeta{APIVersion: apiVersion, Kind: cmapi.CertificateKind},
				ObjectMeta: metav1.ObjectMeta{Name: secret, Namespace: Namespace},
				Spec: cmapi.CertificateSpec{
					IsCA:       true,
					CommonName: is.SelfSigned.CommonName,
					SecretName: secret,
					Duration:   &metav1.Duration{Duration: d},
					// P-256: small, fast, and accepted by every TLS stack cert-manager serves.
					PrivateKey: &cmapi.CertificatePrivateKey{Algorithm: cmapi.ECDSAKeyAlgorithm, Size: 256},
					IssuerRef:  cmmeta.IssuerReference{Name: root, Kind: cmapi.ClusterIssuerKind, Group: group},
				},
			})
			add(clusterIssuer(is.Name, cmapi.IssuerConfig{CA: &cmapi.CAIssuer{SecretName: secret}}))
		default:
			return nil, fmt.Errorf("issuer %s sets no kind (one of acme, ca, vault, selfSigned)", is.Name)
		}
	}
	return out, nil
}

// acme solves HTTP-01 through an Ingress. The solver's Service is ClusterIP: cert-manager's
// default is NodePort (pkg/issuer/acme/http/service.go buildService, getServiceType in
// http.go), which NET-04 refuses; the ingress controller reaches a ClusterIP Service anyway.
// The solver's Pod and Ingress pass SUP-01, SUP-03, TLS-02 and TLS-03 through those controls'
// exemption for cert-manager's own solver objects (acmeSolverCreators).
func acme(a *profile.ACMEIssuer) *acmev1.ACMEIssuer {
	solver := acmev1.ACMEChallengeSolver{HTTP01: &acmev1.ACMEChallengeSolverHTTP01{Ingress: &acmev1.ACMEChallengeSolverHTTP01Ingress{ServiceType: corev1.ServiceTypeClusterIP}}}
	if a.HTTP01IngressClass != "" {
		// ingressClassName, not the deprecated class annotation field.
		class := a.HTTP01IngressClass
		solver.HTTP01.Ingress.IngressClassName = &class
	}
	return &acmev1.ACMEIssuer{
		Email:      a.Email,
		Server:     a.Server,
		PrivateKey: cmmeta.SecretKeySelector{LocalObjectReference: cmmeta.LocalObjectReference{Name: a.PrivateKeySecretName}},
		Solvers:    []acmev1.ACMEChallengeSolver{solver},
	}
}

// vault authenticates with a bound token of the named service account (in cert-manager's
// namespace), never a long-lived token Secret. cert-manager needs RBAC to request that
// token, which vaultTokenRBAC grants.
// The output carries secretRef: {name: ""}: upstream's field is a non-pointer struct, and
// cert-manager reads an empty name as unset.
func vault(v *profile.VaultIssuer) *cmapi.VaultIssuer {
	out := &cmapi.VaultIssuer{
		Server: v.Server,
		Path:   v.Path,
		Auth: cmapi.VaultAuth{Kubernetes: &cmapi.VaultKubernetesAuth{
			Path:              v.MountPath,
			Role:              v.Role,
			ServiceAccountRef: &cmapi.ServiceAccountRef{Name: v.ServiceAccount},
		}},
	}
	if v.CABundleSecretName != "" {
		out.CABundleSecretRef = &cmmeta.SecretKeySelector{LocalObjectReference: cmmeta.LocalObjectReference{Name: v.CABundleSecretName}, Key: caBundleKey}
	}
	return out
}

// ControllerServiceAccount is cert-manager's controller service account, in Namespace, as
// its Helm chart installs it (release cert-manager: deploy/charts/cert-manager/templates/
// _helpers.tpl, cert-manager.serviceAccountName); the catalogue's acmeSolverCreators
// parameters default to the same user.
const ControllerServiceAccount = "cert-manager"

// vaultTokenRBAC lets cert-manager's controller request tokens for a Vault issuer's service
// account, and for no other. With auth.kubernetes.serviceAccountRef, cert-manager v1.21.2
// calls the TokenRequest API, CoreV1().ServiceAccounts(ns).CreateToken (create on
// serviceaccounts/token), for a 10-minute token with the issuer's audiences
// (internal/vault/vault.go requestTokenWithKubernetesAuth), in the issuer's resource namespace:
// for a ClusterIssuer the cluster resource namespace (pkg/controller/helper.go
// ResourceNamespace), which the Helm chart sets to its own namespace
// (templates/deployment.yaml --cluster-resource-namespace=$(POD_NAMESPACE)). The chart's
// ClusterRoles grant no serviceaccounts/token (templates/rbac.yaml), so without this Role the
// issuer never becomes Ready. The Role names only create on that one service account's token
// subresource: no wildcard (IAM-03), no Secrets (SEC-02), bound to one service account
// (IAM-01, IAM-02).
func vaultTokenRBAC(p *profile.Profile, issuer string, v *profile.VaultIssuer) (*rbacv1.Role, *rbacv1.RoleBinding) {
	name := p.Metadata.Name + "-" + issuer + "-vault-token"
	role := &rbacv1.Role{
		TypeMeta:   metav1.TypeMeta{APIVersion: rbacv1.SchemeGroupVersion.String(), Kind: "Role"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: Namespace},
		Rules: []rbacv1.PolicyRule{{
			APIGroups:     []string{""},
			Resources:     []string{"serviceaccounts/token"},
			ResourceNames: []string{v.ServiceAccount},
			Verbs:         []string{"create"},
		}},
	}
	binding := &rbacv1.RoleBinding{
		TypeMeta:   metav1.TypeMeta{APIVersion: rbacv1.SchemeGroupVersion.String(), Kind: "RoleBinding"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: Namespace},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: ControllerServiceAccount, Namespace: Namespace}},
	}
	return role, binding
}

// checkNames refuses profiles whose objects would collide in the cluster: the derived
// names of a bootstrap chain must be valid and must not take another issuer's name, and
// its CA Secret must be no other issuer's Secret (all of them live in cert-manager's
// namespace, and the bootstrap Certificate overwrites the Secret it names; Secrets that
// issuers only read may be shared). It also refuses putting cert-manager's namespace in
// scope with a bootstrap chain: TLS-04 would refuse the bootstrap CA Certificate there,
// since its issuer is deliberately not an approved one.
func checkNames(p *profile.Profile) error {
	issuers := map[string]string{} // ClusterIssuer name -> profile issuer that emits it
	written := map[string]string{} // Secret a bootstrap Certificate writes -> its issuer
	referenced := map[string]string{}
	selfSigned := false
	for _, is := range p.Spec.TLS.Issuers {
		names := []string{is.Name}
		switch {
		case is.ACME != nil:
			referenced[is.ACME.PrivateKeySecretName] = is.Name
		case is.CA != nil:
			referenced[is.CA.SecretName] = is.Name
		case is.Vault != nil:
			if is.Vault.CABundleSecretName != "" {
				referenced[is.Vault.CABundleSecretName] = is.Name
			}
		case is.SelfSigned != nil:
			selfSigned = true
			names = append(names, is.Name+selfSignedSuffix)
			secret := is.Name + caSecretSuffix
			if errs := validation.IsDNS1123Subdomain(secret); len(errs) > 0 {
				return fmt.Errorf("issuer %s: its CA Certificate and Secret name %q is not valid: %s", is.Name, secret, errs[0])
			}
			written[secret] = is.Name
		}
		for _, n := range names {
			if errs := validation.IsDNS1123Subdomain(n); len(errs) > 0 {
				return fmt.Errorf("issuer %s: ClusterIssuer name %q is not valid: %s", is.Name, n, errs[0])
			}
			if other, taken := issuers[n]; taken {
				return fmt.Errorf("issuer %s: ClusterIssuer %q is also emitted for issuer %s", is.Name, n, other)
			}
			issuers[n] = is.Name
		}
	}
	for _, secret := range slices.Sorted(maps.Keys(written)) {
		if other, ok := referenced[secret]; ok {
			return fmt.Errorf("issuer %s: its bootstrap CA Certificate would overwrite Secret %s/%s, which issuer %s uses", written[secret], Namespace, secret, other)
		}
	}
	if selfSigned && slices.Contains(p.Spec.Namespaces.Include, Namespace) {
		return fmt.Errorf("spec.namespaces.include names %s: TLS-04 would refuse the bootstrap CA Certificate there, which its SelfSigned issuer must sign", Namespace)
	}
	return nil
}

// controlIssuers is the control the ClusterIssuers realise; controlLifetime's maxDuration
// bounds the bootstrap CA, so the bundle's own Certificate passes TLS-05's rule.
const (
	controlIssuers  = "TLS-04"
	controlLifetime = "TLS-05"
)

// Realised lists the controls this generator realises; a catalogue test holds it to the
// catalogue's realisedBy.
func Realised() []string { return []string{controlIssuers} }

// NotRealised returns the reason this generator emits nothing for an enabled TLS-04.
func NotRealised(p *profile.Profile) map[string]string {
	if p.ControlEnabled(controlIssuers) && len(p.Spec.TLS.Issuers) == 0 {
		return map[string]string{controlIssuers: "no issuers in spec.tls.issuers"}
	}
	return nil
}
