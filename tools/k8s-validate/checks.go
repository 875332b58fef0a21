package main

// Rules for orysim's manifests on top of the API types: what the API server would accept but
// would make a distributed load run wrong (segments that do not add up, a retried segment
// running late, a token in plain text, a report written where it is lost with the pod, a
// $(VAR) that Kubernetes would pass on literally).

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
)

// The objects other manifests refer to by name.
type refs struct {
	configMaps map[string]map[string]bool // name -> keys
	claims     map[string]bool
}

type problems struct {
	where string
	list  []string
}

func (p *problems) add(path, format string, args ...any) {
	p.list = append(p.list, fmt.Sprintf("%s: %s: %s", p.where, path, fmt.Sprintf(format, args...)))
}

func check(docs []doc) []string {
	r := refs{configMaps: map[string]map[string]bool{}, claims: map[string]bool{}}
	for _, d := range docs {
		switch o := d.obj.(type) {
		case *corev1.ConfigMap:
			keys := map[string]bool{}
			for k := range o.Data {
				keys[k] = true
			}
			r.configMaps[o.Name] = keys
		case *corev1.PersistentVolumeClaim:
			r.claims[o.Name] = true
		}
	}
	var out []string
	for _, d := range docs {
		p := problems{where: d.String()}
		for _, e := range validation.IsDNS1123Subdomain(d.name) {
			p.add("metadata.name", "%s", e)
		}
		switch o := d.obj.(type) {
		case *batchv1.Job:
			p.job("spec", &o.Spec, r)
		case *batchv1.CronJob:
			p.cronJob(o, r)
		case *corev1.Secret:
			if len(o.Data) > 0 || len(o.StringData) > 0 {
				p.add("data", "a Secret with values does not belong in the repository; create it with kubectl create secret")
			}
		}
		out = append(out, p.list...)
	}
	return out
}

func (p *problems) cronJob(c *batchv1.CronJob, r refs) {
	// The controller appends 11 characters to name the Jobs it creates.
	if len(c.Name) > 52 {
		p.add("metadata.name", "a CronJob name may have at most 52 characters")
	}
	if len(strings.Fields(c.Spec.Schedule)) != 5 {
		p.add("spec.schedule", "%q is not a five-field cron schedule", c.Spec.Schedule)
	}
	if c.Spec.ConcurrencyPolicy != batchv1.ForbidConcurrent {
		p.add("spec.concurrencyPolicy", "must be Forbid: two scheduled loads must never overlap")
	}
	p.job("spec.jobTemplate.spec", &c.Spec.JobTemplate.Spec, r)
}

var (
	segmentArg = regexp.MustCompile(`--segment[= ]"?([^"\s]+)`)
	outputArg  = regexp.MustCompile(`(?:--report[= ]|-o\s+)"?(/[^"\s]+)`)
	varRef     = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)
	jobSegment = regexp.MustCompile(`^job/([0-9]+)$`)
	oneSegment = regexp.MustCompile(`^[0-9]+/[0-9]+$`)
)

func (p *problems) job(path string, spec *batchv1.JobSpec, r refs) {
	pod := &spec.Template.Spec
	podPath := path + ".template.spec"
	indexed := spec.CompletionMode != nil && *spec.CompletionMode == batchv1.IndexedCompletion
	if pod.RestartPolicy != corev1.RestartPolicyNever && pod.RestartPolicy != corev1.RestartPolicyOnFailure {
		p.add(podPath+".restartPolicy", "a Job's pods need Never or OnFailure")
	}
	if spec.PodFailurePolicy != nil && pod.RestartPolicy != corev1.RestartPolicyNever {
		p.add(podPath+".restartPolicy", "podFailurePolicy requires Never")
	}
	if spec.ActiveDeadlineSeconds == nil {
		p.add(path+".activeDeadlineSeconds", "missing: every run must be bounded in time")
	}
	if indexed {
		switch {
		case spec.Completions == nil:
			p.add(path+".completions", "an Indexed Job needs completions (the number of segments)")
		case spec.Parallelism == nil || *spec.Parallelism != *spec.Completions:
			p.add(path+".parallelism", "must equal completions (%d): every segment runs at the same time", *spec.Completions)
		}
	}
	p.pod(podPath, pod, r, indexed)
	for i, c := range pod.Containers {
		cPath := fmt.Sprintf("%s.containers[%d]", podPath, i)
		text := strings.Join(append(append([]string{}, c.Command...), c.Args...), " ")
		if !strings.Contains(c.Image, "orysim") {
			continue
		}
		runs := (len(c.Args) > 0 && c.Args[0] == "run") || strings.Contains(text, "orysim run")
		m := segmentArg.FindStringSubmatch(text)
		if m == nil {
			if runs && indexed {
				p.add(cPath+".args", "an Indexed Job must run orysim with --segment=job/N, or every pod runs the whole load")
			}
			continue
		}
		seg := m[1]
		switch {
		case jobSegment.MatchString(seg):
			n, _ := strconv.Atoi(jobSegment.FindStringSubmatch(seg)[1])
			if !indexed {
				p.add(cPath+".args", "--segment=%s takes its index from an Indexed Job: set completionMode: Indexed", seg)
			} else if spec.Completions != nil && int32(n) != *spec.Completions {
				p.add(cPath+".args", "--segment=%s but completions is %d: the segments would not add up to the load", seg, *spec.Completions)
			}
		case oneSegment.MatchString(seg) && indexed:
			p.add(cPath+".args", "--segment=%s is the same in every pod of an Indexed Job; use --segment=job/N", seg)
		case !oneSegment.MatchString(seg):
			p.add(cPath+".args", "--segment=%s is neither I/N nor job/N", seg)
		}
		// A segment restarted after the common start time runs its share late.
		if spec.BackoffLimit == nil || *spec.BackoffLimit != 0 {
			p.add(path+".backoffLimit", "must be 0 for a segmented run: a retried segment would run after the others")
		}
		if !failsOn(spec.PodFailurePolicy, 2, 99) {
			p.add(path+".podFailurePolicy", "needs a FailJob rule for exit codes 2 (usage) and 99 (threshold)")
		}
	}
}

// failsOn reports whether a FailJob rule covers every one of the exit codes.
func failsOn(policy *batchv1.PodFailurePolicy, codes ...int32) bool {
	if policy == nil {
		return false
	}
	covered := map[int32]bool{}
	for _, rule := range policy.Rules {
		if rule.Action != batchv1.PodFailurePolicyActionFailJob || rule.OnExitCodes == nil ||
			rule.OnExitCodes.Operator != batchv1.PodFailurePolicyOnExitCodesOpIn {
			continue
		}
		for _, v := range rule.OnExitCodes.Values {
			covered[v] = true
		}
	}
	for _, c := range codes {
		if !covered[c] {
			return false
		}
	}
	return true
}

func (p *problems) pod(path string, pod *corev1.PodSpec, r refs, indexed bool) {
	sc := pod.SecurityContext
	if sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot {
		p.add(path+".securityContext.runAsNonRoot", "must be true")
	}
	if sc == nil || sc.RunAsUser == nil || *sc.RunAsUser == 0 {
		p.add(path+".securityContext.runAsUser", "must be a non-root numeric user (e.g. 65532)")
	}
	volumes := map[string]*corev1.Volume{}
	for i := range pod.Volumes {
		v := &pod.Volumes[i]
		volumes[v.Name] = v
		if c := v.PersistentVolumeClaim; c != nil && !r.claims[c.ClaimName] {
			p.add(fmt.Sprintf("%s.volumes[%d].persistentVolumeClaim.claimName", path, i),
				"no PersistentVolumeClaim %q among the manifests", c.ClaimName)
		}
	}
	for i := range pod.Containers {
		p.container(fmt.Sprintf("%s.containers[%d]", path, i), &pod.Containers[i], volumes, r, indexed)
	}
}

func (p *problems) container(path string, c *corev1.Container, volumes map[string]*corev1.Volume, r refs, indexed bool) {
	tag := c.Image[strings.LastIndex(c.Image, "/")+1:]
	if !strings.ContainsAny(tag, ":@") || strings.HasSuffix(tag, ":latest") {
		p.add(path+".image", "%q: pin a version tag or digest, not latest", c.Image)
	}
	sc := c.SecurityContext
	if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		p.add(path+".securityContext.allowPrivilegeEscalation", "must be false")
	}
	readOnly := sc != nil && sc.ReadOnlyRootFilesystem != nil && *sc.ReadOnlyRootFilesystem
	if !readOnly {
		p.add(path+".securityContext.readOnlyRootFilesystem", "must be true")
	}
	if sc == nil || sc.Capabilities == nil || !contains(sc.Capabilities.Drop, "ALL") {
		p.add(path+".securityContext.capabilities.drop", "must drop ALL")
	}

	defined := map[string]bool{}
	if indexed {
		defined["JOB_COMPLETION_INDEX"] = true // set by the Job controller
	}
	for i, from := range c.EnvFrom {
		if ref := from.ConfigMapRef; ref != nil {
			keys, ok := r.configMaps[ref.Name]
			if !ok && (ref.Optional == nil || !*ref.Optional) {
				p.add(fmt.Sprintf("%s.envFrom[%d].configMapRef.name", path, i), "no ConfigMap %q among the manifests", ref.Name)
			}
			for k := range keys {
				defined[from.Prefix+k] = true
			}
		}
	}
	for i, e := range c.Env {
		ePath := fmt.Sprintf("%s.env[%d]", path, i)
		defined[e.Name] = true
		secretish := strings.Contains(e.Name, "TOKEN") || strings.Contains(e.Name, "SECRET") || strings.Contains(e.Name, "PASSWORD")
		if secretish && (e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil) {
			p.add(ePath, "%s must come from a Secret (valueFrom.secretKeyRef), never a literal or a ConfigMap", e.Name)
		}
		if e.ValueFrom != nil && e.ValueFrom.ConfigMapKeyRef != nil {
			ref := e.ValueFrom.ConfigMapKeyRef
			keys, ok := r.configMaps[ref.Name]
			optional := ref.Optional != nil && *ref.Optional
			if !optional && (!ok || !keys[ref.Key]) {
				p.add(ePath+".valueFrom.configMapKeyRef", "no key %q in a ConfigMap %q among the manifests", ref.Key, ref.Name)
			}
		}
	}
	for i, s := range append(append([]string{}, c.Command...), c.Args...) {
		if strings.Contains(s, "--admin-token") {
			p.add(path, "--admin-token in the command line shows the token to anyone who can read the pod; use ORYSIM_ADMIN_TOKEN from a Secret")
		}
		// $$ is Kubernetes's escape for a literal $; what is left must be defined, or
		// Kubernetes passes the text on unexpanded.
		for _, m := range varRef.FindAllStringSubmatch(strings.ReplaceAll(s, "$$", ""), -1) {
			if !defined[m[1]] {
				p.add(fmt.Sprintf("%s.command+args[%d]", path, i), "$(%s) is not defined in the container's env, so Kubernetes would pass it on literally (write $$ for a shell's $)", m[1])
			}
		}
	}

	mounts := map[string]*corev1.Volume{}
	for i, m := range c.VolumeMounts {
		v, ok := volumes[m.Name]
		if !ok {
			p.add(fmt.Sprintf("%s.volumeMounts[%d].name", path, i), "no volume %q in the pod", m.Name)
			continue
		}
		mounts[strings.TrimSuffix(m.MountPath, "/")] = v
	}
	if _, ok := mounts["/tmp"]; readOnly && !ok {
		p.add(path+".volumeMounts", "a read-only root filesystem needs a writable volume at /tmp")
	}
	text := strings.Join(append(append([]string{}, c.Command...), c.Args...), " ")
	for _, m := range outputArg.FindAllStringSubmatch(text, -1) {
		if !persistent(m[1], mounts) {
			p.add(path+".args", "%s is not on a PersistentVolumeClaim mount: the report would be lost with the pod", m[1])
		}
	}
}

func persistent(file string, mounts map[string]*corev1.Volume) bool {
	for dir, v := range mounts {
		if strings.HasPrefix(file, dir+"/") && v.PersistentVolumeClaim != nil {
			return true
		}
	}
	return false
}

func contains[T comparable](list []T, want T) bool {
	for _, x := range list {
		if x == want {
			return true
		}
	}
	return false
}
