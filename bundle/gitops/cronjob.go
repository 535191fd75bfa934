package gitops

import (
	"fmt"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// VerifyJobOptions say how a cluster verifies itself on a schedule.
type VerifyJobOptions struct {
	// Bundle is the bundle reference verify checks (a digest pins it; a tag follows it).
	Bundle string
	// Cluster names the cluster in reports and evidence records.
	Cluster string
	// Image is a bulwark image (by digest, ideally).
	Image string
	// Namespace of the objects. Defaults to bulwark-system.
	Namespace string
	// Schedule is the CronJob schedule. Defaults to hourly.
	Schedule string
	// Flux names the OCIRepository and Kustomization (NAMESPACE/NAME) that sync the bundle.
	Flux string
	// AttestSecret names a Secret with cosign.key and the key's password: with it, every run
	// signs its record and attaches it to the bundle digest.
	AttestSecret string
	// RegistrySecret names a kubernetes.io/dockerconfigjson Secret: pull and push credentials.
	RegistrySecret string
	// Probe also sends the enforcement probes (binds the probe role).
	Probe bool
	// ProbeRBAC also binds the RBAC probes' role (escalate and bind on RBAC objects, as
	// powerful as cluster-admin), without which the IAM-01..03 and SEC-02 probes are reported
	// as not sent. Needs Probe.
	ProbeRBAC bool
}

// The paths the job mounts its secrets at.
const (
	jobKeyDir    = "/var/run/bulwark/cosign"
	jobDockerDir = "/var/run/bulwark/docker"
)

// VerifyJob is what runs `bulwark verify --in-cluster` on a schedule: a ServiceAccount
// bound to the published read-only role (and the probe role with Probe), and a CronJob
// whose pod meets Pod Security restricted, so Bulwark's own POD controls admit it.
func VerifyJob(o VerifyJobOptions) ([]runtime.Object, error) {
	switch {
	case o.Bundle == "":
		return nil, fmt.Errorf("a bundle is required")
	case o.Cluster == "":
		return nil, fmt.Errorf("a cluster name is required: it names the cluster in reports and evidence")
	case o.Image == "":
		return nil, fmt.Errorf("an image is required: a bulwark image, by digest (REG/REPO@sha256:...)")
	case o.ProbeRBAC && !o.Probe:
		return nil, fmt.Errorf("the RBAC probes' role is for probes: --probe-rbac needs --probe")
	}
	if o.Namespace == "" {
		o.Namespace = "bulwark-system"
	}
	if o.Schedule == "" {
		o.Schedule = "17 * * * *"
	}
	const name = "bulwark-verify"
	meta := metav1.ObjectMeta{Name: name, Namespace: o.Namespace, Labels: map[string]string{"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": "bulwark"}}
	sa := &corev1.ServiceAccount{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"}, ObjectMeta: meta}
	binding := func(role string) *rbacv1.ClusterRoleBinding {
		return &rbacv1.ClusterRoleBinding{
			TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRoleBinding"},
			ObjectMeta: metav1.ObjectMeta{Name: role + "-" + o.Namespace, Labels: meta.Labels},
			RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: role},
			Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: name, Namespace: o.Namespace}},
		}
	}
	objs := []runtime.Object{sa, binding("bulwark-verify")}
	args := []string{"verify", "--in-cluster", o.Cluster, "--bundle", o.Bundle, "-o", "json"}
	if o.Flux != "" {
		args = append(args, "--flux", o.Flux)
	}
	if o.Probe {
		args = append(args, "--probe")
		objs = append(objs, binding("bulwark-verify-probe"))
		if o.ProbeRBAC {
			objs = append(objs, binding("bulwark-verify-probe-rbac"))
		}
	}
	no, yes := false, true
	uid := int64(65532)
	var env []corev1.EnvVar
	var mounts []corev1.VolumeMount
	var volumes []corev1.Volume
	if o.AttestSecret != "" {
		args = append(args, "--attest", jobKeyDir+"/cosign.key")
		env = append(env, corev1.EnvVar{Name: "COSIGN_PASSWORD", ValueFrom: &corev1.EnvVarSource{
			SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: o.AttestSecret}, Key: "cosign.password"}}})
		mounts = append(mounts, corev1.VolumeMount{Name: "cosign", MountPath: jobKeyDir, ReadOnly: true})
		volumes = append(volumes, corev1.Volume{Name: "cosign", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
			SecretName: o.AttestSecret, Items: []corev1.KeyToPath{{Key: "cosign.key", Path: "cosign.key"}}}}})
	}
	if o.RegistrySecret != "" {
		env = append(env, corev1.EnvVar{Name: "DOCKER_CONFIG", Value: jobDockerDir})
		mounts = append(mounts, corev1.VolumeMount{Name: "docker", MountPath: jobDockerDir, ReadOnly: true})
		volumes = append(volumes, corev1.Volume{Name: "docker", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
			SecretName: o.RegistrySecret, Items: []corev1.KeyToPath{{Key: corev1.DockerConfigJsonKey, Path: "config.json"}}}}})
	}
	container := corev1.Container{
		Name: "verify", Image: o.Image, Args: args, Env: env, VolumeMounts: mounts,
		Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi")},
			Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("512Mi")},
		},
		SecurityContext: &corev1.SecurityContext{
			AllowPrivilegeEscalation: &no, ReadOnlyRootFilesystem: &yes, RunAsNonRoot: &yes, RunAsUser: &uid,
			Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		},
	}
	cron := &batchv1.CronJob{
		TypeMeta:   metav1.TypeMeta{APIVersion: "batch/v1", Kind: "CronJob"},
		ObjectMeta: meta,
		Spec: batchv1.CronJobSpec{
			Schedule: o.Schedule, ConcurrencyPolicy: batchv1.ForbidConcurrent,
			SuccessfulJobsHistoryLimit: ptrInt32(3), FailedJobsHistoryLimit: ptrInt32(3),
			JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{
				BackoffLimit: ptrInt32(0),
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: meta.Labels},
					Spec: corev1.PodSpec{
						ServiceAccountName: name, RestartPolicy: corev1.RestartPolicyNever,
						SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: &yes, SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
						Containers:      []corev1.Container{container},
						Volumes:         volumes,
					},
				},
			}},
		},
	}
	return append(objs, cron), nil
}

func ptrInt32(v int32) *int32 { return &v }
