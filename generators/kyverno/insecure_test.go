package kyverno

import "github.com/kyverno/api/api/policies.kyverno.io/v1alpha1"

func credentialsInsecure() *v1alpha1.Credentials {
	return &v1alpha1.Credentials{AllowInsecureRegistry: true}
}
