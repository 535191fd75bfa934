package psscompat_test

import (
	"fmt"
	"math/rand/v2"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The pod generator starts from a pod the restricted level admits and applies a few random
// mutations, each setting one field the Pod Security Standards read to an allowed, a forbidden
// or an edge value, on the pod or on one of its containers, init containers or ephemeral
// containers. Starting from a compliant pod keeps most pods one or two fields away from the
// boundary, where a wrong rule shows.
//
// It respects the API server's validation where PSS depends on it: a Windows pod
// (spec.os.name: windows) carries none of the Linux-only security fields the API server
// refuses there, a Linux pod no windowsOptions, and a pod with hostUsers: false no host
// namespaces. A disagreement on a pod the API server would refuse anyway proves nothing.

func ptr[T any](v T) *T { return &v }

// pick returns one of the values, uniformly.
func pick[T any](r *rand.Rand, values ...T) T { return values[r.IntN(len(values))] }

// compliantContainer passes every restricted check.
func compliantContainer(name string) corev1.Container {
	return corev1.Container{
		Name:  name,
		Image: "ghcr.io/acme/app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		SecurityContext: &corev1.SecurityContext{
			AllowPrivilegeEscalation: ptr(false),
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		},
	}
}

// genPod builds pod number i from the random source.
func genPod(r *rand.Rand, i int) *corev1.Pod {
	p := &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("pod-%05d", i), Namespace: namespace},
		Spec: corev1.PodSpec{
			SecurityContext: &corev1.PodSecurityContext{
				RunAsNonRoot:   ptr(true),
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
			},
			Containers: []corev1.Container{compliantContainer("app")},
		},
	}
	if r.IntN(3) == 0 {
		p.Spec.InitContainers = []corev1.Container{compliantContainer("init")}
	}
	if r.IntN(3) == 0 {
		c := compliantContainer("debugger")
		p.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon(c)}}
	}
	if r.IntN(4) == 0 {
		p.Spec.Containers = append(p.Spec.Containers, compliantContainer("sidecar"))
	}
	windows := r.IntN(6) == 0
	switch {
	case windows:
		p.Spec.OS = &corev1.PodOS{Name: corev1.Windows}
	case r.IntN(4) == 0:
		p.Spec.OS = &corev1.PodOS{Name: corev1.Linux}
	}
	if r.IntN(8) == 0 {
		// Some pods leave the pod-level context to the containers, or drop it.
		p.Spec.SecurityContext = pick(r, nil, &corev1.PodSecurityContext{})
	}
	for n := r.IntN(5); n > 0; n-- {
		if r.IntN(2) == 0 {
			pick(r, podMutations...)(r, p)
		} else {
			pick(r, containerMutations...)(r, p, randomContainer(r, p))
		}
	}
	if windows {
		stripLinuxOnly(p)
	} else if p.Spec.OS != nil {
		stripWindowsOnly(p)
	}
	if p.Spec.HostUsers != nil && !*p.Spec.HostUsers {
		p.Spec.HostNetwork, p.Spec.HostPID, p.Spec.HostIPC = false, false, false
	}
	return p
}

// randomContainer returns a container of any kind (regular, init, ephemeral) to mutate.
func randomContainer(r *rand.Rand, p *corev1.Pod) *corev1.Container {
	var all []*corev1.Container
	for i := range p.Spec.Containers {
		all = append(all, &p.Spec.Containers[i])
	}
	for i := range p.Spec.InitContainers {
		all = append(all, &p.Spec.InitContainers[i])
	}
	for i := range p.Spec.EphemeralContainers {
		all = append(all, (*corev1.Container)(&p.Spec.EphemeralContainers[i].EphemeralContainerCommon))
	}
	return all[r.IntN(len(all))]
}

func podSC(p *corev1.Pod) *corev1.PodSecurityContext {
	if p.Spec.SecurityContext == nil {
		p.Spec.SecurityContext = &corev1.PodSecurityContext{}
	}
	return p.Spec.SecurityContext
}

func containerSC(c *corev1.Container) *corev1.SecurityContext {
	if c.SecurityContext == nil {
		c.SecurityContext = &corev1.SecurityContext{}
	}
	return c.SecurityContext
}

var (
	seccompTypes = []corev1.SeccompProfileType{"", corev1.SeccompProfileTypeRuntimeDefault, corev1.SeccompProfileTypeLocalhost, corev1.SeccompProfileTypeUnconfined}
	appArmorType = []corev1.AppArmorProfileType{"", corev1.AppArmorProfileTypeRuntimeDefault, corev1.AppArmorProfileTypeLocalhost, corev1.AppArmorProfileTypeUnconfined}
	seLinuxTypes = []string{"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t", "spc_t", "unconfined_t"}
	capabilities = []corev1.Capability{"NET_BIND_SERVICE", "CHOWN", "KILL", "SETUID", "SYS_CHROOT", "AUDIT_WRITE", "NET_RAW", "SYS_ADMIN", "NET_ADMIN", "BPF", "ALL", "all"}
	sysctlNames  = []string{
		// The 1.37 safe set...
		"kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range",
		"net.ipv4.ip_unprivileged_port_start", "net.ipv4.ip_local_reserved_ports", "net.ipv4.tcp_keepalive_time",
		"net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl", "net.ipv4.tcp_keepalive_probes",
		"net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem", "net.ipv4.tcp_slow_start_after_idle", "net.ipv4.tcp_notsent_lowat",
		// ...and namespaced or node-wide ones outside it.
		"kernel.msgmax", "kernel.sem", "net.core.somaxconn", "net.ipv4.ip_forward", "net.ipv4.tcp_mem", "vm.swappiness",
	}
	hosts = []string{"", "169.254.169.254", "localhost", "10.0.0.1"}
)

func seccomp(r *rand.Rand) *corev1.SeccompProfile {
	t := pick(r, seccompTypes...)
	if t == "" {
		return nil
	}
	s := &corev1.SeccompProfile{Type: t}
	if t == corev1.SeccompProfileTypeLocalhost {
		s.LocalhostProfile = ptr("profiles/audit.json")
	}
	return s
}

func appArmor(r *rand.Rand) *corev1.AppArmorProfile {
	t := pick(r, appArmorType...)
	if t == "" {
		return nil
	}
	a := &corev1.AppArmorProfile{Type: t}
	if t == corev1.AppArmorProfileTypeLocalhost {
		a.LocalhostProfile = ptr("k8s-apparmor-example")
	}
	return a
}

func seLinux(r *rand.Rand) *corev1.SELinuxOptions {
	if r.IntN(4) == 0 {
		return nil
	}
	return &corev1.SELinuxOptions{
		Type:  pick(r, seLinuxTypes...),
		User:  pick(r, "", "", "system_u", "root"),
		Role:  pick(r, "", "", "system_r", "sysadm_r"),
		Level: pick(r, "", "s0:c123,c456"),
	}
}

func optBool(r *rand.Rand) *bool { return pick(r, nil, ptr(true), ptr(false)) }

func handler(r *rand.Rand) (*corev1.HTTPGetAction, *corev1.TCPSocketAction) {
	if r.IntN(2) == 0 {
		return &corev1.HTTPGetAction{Path: "/healthz", Port: intOrString(8080), Host: pick(r, hosts...)}, nil
	}
	return nil, &corev1.TCPSocketAction{Port: intOrString(8080), Host: pick(r, hosts...)}
}

func probe(r *rand.Rand) *corev1.Probe {
	h, t := handler(r)
	return &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: h, TCPSocket: t}}
}

func lifecycleHandler(r *rand.Rand) *corev1.LifecycleHandler {
	h, t := handler(r)
	return &corev1.LifecycleHandler{HTTPGet: h, TCPSocket: t}
}

// volume returns a volume of a random source type.
func volume(r *rand.Rand, i int) corev1.Volume {
	v := corev1.Volume{Name: fmt.Sprintf("v%d", i)}
	switch r.IntN(14) {
	case 0:
		v.ConfigMap = &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cm"}}
	case 1:
		v.Secret = &corev1.SecretVolumeSource{SecretName: "s"}
	case 2:
		v.EmptyDir = &corev1.EmptyDirVolumeSource{}
	case 3:
		v.Projected = &corev1.ProjectedVolumeSource{}
	case 4:
		v.DownwardAPI = &corev1.DownwardAPIVolumeSource{}
	case 5:
		v.PersistentVolumeClaim = &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"}
	case 6:
		v.CSI = &corev1.CSIVolumeSource{Driver: "csi.example.com"}
	case 7:
		v.Ephemeral = &corev1.EphemeralVolumeSource{}
	case 8:
		v.Image = &corev1.ImageVolumeSource{Reference: "ghcr.io/acme/data:1"}
	case 9:
		v.HostPath = &corev1.HostPathVolumeSource{Path: "/var/run"}
	case 10:
		v.NFS = &corev1.NFSVolumeSource{Server: "nfs.example", Path: "/"}
	case 11:
		v.GitRepo = &corev1.GitRepoVolumeSource{Repository: "https://example.com/r.git"}
	case 12:
		v.ISCSI = &corev1.ISCSIVolumeSource{TargetPortal: "10.0.0.1:3260", IQN: "iqn.2001-04.com.example:storage", Lun: 0}
	default:
		v.FlexVolume = &corev1.FlexVolumeSource{Driver: "example/flex"}
	}
	return v
}

var podMutations = []func(*rand.Rand, *corev1.Pod){
	func(r *rand.Rand, p *corev1.Pod) {
		b := r.IntN(2) == 0
		switch r.IntN(3) {
		case 0:
			p.Spec.HostNetwork = b
		case 1:
			p.Spec.HostPID = b
		default:
			p.Spec.HostIPC = b
		}
	},
	func(r *rand.Rand, p *corev1.Pod) { p.Spec.HostUsers = optBool(r) },
	func(r *rand.Rand, p *corev1.Pod) { podSC(p).RunAsNonRoot = optBool(r) },
	func(r *rand.Rand, p *corev1.Pod) { podSC(p).RunAsUser = pick(r, nil, ptr(int64(0)), ptr(int64(1000))) },
	func(r *rand.Rand, p *corev1.Pod) { podSC(p).SeccompProfile = seccomp(r) },
	func(r *rand.Rand, p *corev1.Pod) { podSC(p).SELinuxOptions = seLinux(r) },
	func(r *rand.Rand, p *corev1.Pod) { podSC(p).AppArmorProfile = appArmor(r) },
	func(r *rand.Rand, p *corev1.Pod) {
		podSC(p).Sysctls = append(podSC(p).Sysctls, corev1.Sysctl{Name: pick(r, sysctlNames...), Value: "1"})
	},
	func(r *rand.Rand, p *corev1.Pod) {
		podSC(p).WindowsOptions = &corev1.WindowsSecurityContextOptions{HostProcess: optBool(r), RunAsUserName: pick(r, (*string)(nil), ptr("ContainerUser"))}
	},
	func(r *rand.Rand, p *corev1.Pod) {
		p.Spec.Volumes = append(p.Spec.Volumes, volume(r, len(p.Spec.Volumes)))
	},
	func(r *rand.Rand, p *corev1.Pod) {
		c := randomContainer(r, p)
		key := "container.apparmor.security.beta.kubernetes.io/" + pick(r, c.Name, "not-a-container")
		setAnnotation(p, key, pick(r, "", "runtime/default", "localhost/k8s-apparmor-example", "unconfined", "docker/default"))
	},
	func(r *rand.Rand, p *corev1.Pod) {
		// Seccomp annotations stopped counting in 1.19; PSS at 1.37 reads only the fields.
		setAnnotation(p, pick(r, "seccomp.security.alpha.kubernetes.io/pod", "container.seccomp.security.alpha.kubernetes.io/app"), pick(r, "unconfined", "runtime/default"))
	},
}

var containerMutations = []func(*rand.Rand, *corev1.Pod, *corev1.Container){
	func(r *rand.Rand, _ *corev1.Pod, c *corev1.Container) { containerSC(c).Privileged = optBool(r) },
	func(r *rand.Rand, _ *corev1.Pod, c *corev1.Container) {
		containerSC(c).AllowPrivilegeEscalation = optBool(r)
	},
	func(r *rand.Rand, _ *corev1.Pod, c *corev1.Container) {
		sc := containerSC(c)
		if sc.Capabilities == nil {
			sc.Capabilities = &corev1.Capabilities{}
		}
		sc.Capabilities.Add = append(sc.Capabilities.Add, pick(r, capabilities...))
	},
	func(r *rand.Rand, _ *corev1.Pod, c *corev1.Container) {
		sc := containerSC(c)
		switch r.IntN(4) {
		case 0:
			sc.Capabilities = nil
		case 1:
			sc.Capabilities = &corev1.Capabilities{}
		default:
			if sc.Capabilities == nil {
				sc.Capabilities = &corev1.Capabilities{}
			}
			sc.Capabilities.Drop = []corev1.Capability{pick(r, capabilities...)}
		}
	},
	func(r *rand.Rand, _ *corev1.Pod, c *corev1.Container) { containerSC(c).RunAsNonRoot = optBool(r) },
	func(r *rand.Rand, _ *corev1.Pod, c *corev1.Container) {
		containerSC(c).RunAsUser = pick(r, nil, ptr(int64(0)), ptr(int64(1000)))
	},
	func(r *rand.Rand, _ *corev1.Pod, c *corev1.Container) { containerSC(c).SeccompProfile = seccomp(r) },
	func(r *rand.Rand, _ *corev1.Pod, c *corev1.Container) { containerSC(c).SELinuxOptions = seLinux(r) },
	func(r *rand.Rand, _ *corev1.Pod, c *corev1.Container) { containerSC(c).AppArmorProfile = appArmor(r) },
	func(r *rand.Rand, _ *corev1.Pod, c *corev1.Container) {
		containerSC(c).ProcMount = pick(r, nil, ptr(corev1.DefaultProcMount), ptr(corev1.UnmaskedProcMount))
	},
	func(r *rand.Rand, _ *corev1.Pod, c *corev1.Container) {
		c.Ports = append(c.Ports, corev1.ContainerPort{ContainerPort: 8080, HostPort: pick(r, int32(0), int32(8080), int32(443))})
	},
	func(r *rand.Rand, _ *corev1.Pod, c *corev1.Container) {
		switch r.IntN(3) {
		case 0:
			c.LivenessProbe = probe(r)
		case 1:
			c.ReadinessProbe = probe(r)
		default:
			c.StartupProbe = probe(r)
		}
	},
	func(r *rand.Rand, _ *corev1.Pod, c *corev1.Container) {
		if c.Lifecycle == nil {
			c.Lifecycle = &corev1.Lifecycle{}
		}
		if r.IntN(2) == 0 {
			c.Lifecycle.PostStart = lifecycleHandler(r)
		} else {
			c.Lifecycle.PreStop = lifecycleHandler(r)
		}
	},
	func(r *rand.Rand, _ *corev1.Pod, c *corev1.Container) {
		containerSC(c).WindowsOptions = &corev1.WindowsSecurityContextOptions{HostProcess: optBool(r)}
	},
	func(r *rand.Rand, _ *corev1.Pod, c *corev1.Container) {
		containerSC(c).ReadOnlyRootFilesystem = optBool(r)
	},
	func(_ *rand.Rand, _ *corev1.Pod, c *corev1.Container) { c.SecurityContext = nil },
}

func setAnnotation(p *corev1.Pod, k, v string) {
	if p.Annotations == nil {
		p.Annotations = map[string]string{}
	}
	p.Annotations[k] = v
}

// stripLinuxOnly removes what the API server refuses on a Windows pod.
func stripLinuxOnly(p *corev1.Pod) {
	p.Spec.HostUsers = nil
	if sc := p.Spec.SecurityContext; sc != nil {
		sc.SELinuxOptions, sc.SeccompProfile, sc.AppArmorProfile, sc.Sysctls = nil, nil, nil, nil
		sc.RunAsUser, sc.RunAsGroup, sc.FSGroup, sc.SupplementalGroups = nil, nil, nil, nil
	}
	visit(p, func(c *corev1.Container) {
		if sc := c.SecurityContext; sc != nil {
			sc.SELinuxOptions, sc.SeccompProfile, sc.AppArmorProfile, sc.Capabilities = nil, nil, nil, nil
			sc.ReadOnlyRootFilesystem, sc.Privileged, sc.AllowPrivilegeEscalation, sc.ProcMount = nil, nil, nil, nil
			sc.RunAsUser, sc.RunAsGroup = nil, nil
		}
	})
	for k := range p.Annotations {
		delete(p.Annotations, k) // AppArmor annotations are Linux-only too
	}
}

// stripWindowsOnly removes what the API server refuses on a pod that says it is Linux.
func stripWindowsOnly(p *corev1.Pod) {
	if sc := p.Spec.SecurityContext; sc != nil {
		sc.WindowsOptions = nil
	}
	visit(p, func(c *corev1.Container) {
		if c.SecurityContext != nil {
			c.SecurityContext.WindowsOptions = nil
		}
	})
}

func visit(p *corev1.Pod, f func(*corev1.Container)) {
	for i := range p.Spec.InitContainers {
		f(&p.Spec.InitContainers[i])
	}
	for i := range p.Spec.Containers {
		f(&p.Spec.Containers[i])
	}
	for i := range p.Spec.EphemeralContainers {
		f((*corev1.Container)(&p.Spec.EphemeralContainers[i].EphemeralContainerCommon))
	}
}
