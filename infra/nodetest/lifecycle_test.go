package nodetest_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto/optpreview"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/counter-mysql/counter-mysql/app/loadtest"
	"github.com/counter-mysql/counter-mysql/infra/counterapp"
	"github.com/counter-mysql/counter-mysql/infra/database"
	"github.com/counter-mysql/counter-mysql/infra/enginetest"
	"github.com/counter-mysql/counter-mysql/infra/kubetest"
	"github.com/counter-mysql/counter-mysql/infra/nodetest"
)

func TestMain(m *testing.M) {
	code := nodetest.Main(m)
	enginetest.Cleanup()
	os.Exit(code)
}

const (
	// readyTimeout bounds each wait for pods on the real node: a first MySQL start
	// initialises its data directory (about 20-60 s on a busy machine).
	readyTimeout = 4 * time.Minute
	appSelector  = "app.kubernetes.io/name=counter"
	mysqlPod     = "mysql-0"
	// loadClients is the drills' concurrency, through the app's Service.
	loadClients = 32
	// requestTimeout is the stacks' requestTimeout: how long the app waits for MySQL
	// before it answers 503.
	requestTimeout = 10 * time.Second
	// loadTimeout is how long a drill's client waits for an answer: longer than the
	// app's own bound, so a slow request is the app's 503, never the client giving up.
	loadTimeout = requestTimeout + 5*time.Second
)

// world is the node, a Pulumi installation and a client.
type world struct {
	node   *nodetest.Node
	client kubernetes.Interface
	env    *enginetest.Env
}

func newWorld(t *testing.T) *world {
	n := nodetest.Shared(t)
	return &world{node: n, client: n.Cluster.Client, env: enginetest.New(t, filepath.Join("..", "..", "Pulumi.yaml"))}
}

// stack is a stack of the real program in existing mode on the node.
type stack struct {
	*enginetest.Stack
	w         *world
	namespace string
	config    map[string]string
}

// newStack is a stack in namespace with the node's images and storage class.
func (w *world) newStack(t *testing.T, namespace string, overrides map[string]string) *stack {
	cfg := map[string]string{
		"mode":                 "existing",
		"kubeconfig":           w.node.Cluster.Kubeconfig,
		"storageClassName":     nodetest.StorageClass,
		"appImage":             nodetest.AppImage,
		"namespace":            namespace,
		"appReplicas":          "2",
		"mysqlStorageSize":     "1Gi",
		"mysqlVersion":         nodetest.MySQLVersions[0],
		"mysqlImage":           nodetest.MySQLImage(nodetest.MySQLVersions[0]),
		"volumeCleanupTimeout": "2m",
		// The node has no snapshot controller; the final snapshot is the API tier's.
		"finalSnapshot": "false",
		// The node has only the images built here, not mysqld_exporter's, and no registry:
		// no sidecar (its account is kept all the same, by MySQL's own scripts).
		"mysqlExporter": "false",
		// The drills share two cores with the engine tier (make test): at load average ~20
		// one statement outlasted the default 2 s once and its request got a 503, which
		// the rollout check refuses. Users of a slow node raise it the same way.
		"requestTimeout": requestTimeout.String(),
	}
	for k, v := range overrides {
		cfg[k] = v
	}
	name := "nt" + strings.ToLower(rand.Text()[:6])
	return &stack{Stack: w.env.NewStack(t, name, cfg), w: w, namespace: namespace, config: cfg}
}

// serviceURL is the app's Service, as a pod or `kubectl port-forward` reaches it: its
// ClusterIP, routed by kube-proxy's rules to a ready pod.
func (s *stack) serviceURL(t *testing.T) string {
	t.Helper()
	svc, err := s.w.client.CoreV1().Services(s.namespace).Get(t.Context(), "counter", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("http://%s:%d", svc.Spec.ClusterIP, svc.Spec.Ports[0].Port)
}

// appEnv is the app container's environment (values only, not Secret references).
func (s *stack) appEnv(t *testing.T) map[string]string {
	t.Helper()
	d, err := s.w.client.AppsV1().Deployments(s.namespace).Get(t.Context(), counterapp.DeploymentName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for _, e := range d.Spec.Template.Spec.Containers[0].Env {
		env[e.Name] = e.Value
	}
	return env
}

// getNumber asks the app for a number through its Service.
func getNumber(ctx context.Context, url string) (int64, *http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/get-number", nil)
	if err != nil {
		return 0, nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return 0, resp, fmt.Errorf("GET /get-number: %d %s", resp.StatusCode, body)
	}
	var got struct{ Number int64 }
	if err := json.Unmarshal(body, &got); err != nil {
		return 0, resp, err
	}
	return got.Number, resp, nil
}

// number waits for one number from the app (it may be starting or failing over).
func (s *stack) number(t *testing.T) int64 {
	t.Helper()
	url := s.serviceURL(t)
	var n int64
	kubetest.Eventually(t, readyTimeout, "a number from "+url+"/get-number (the app's Service)", func(ctx context.Context) error {
		var err error
		n, _, err = getNumber(ctx, url)
		return err
	})
	return n
}

// waitReady waits until MySQL and every app replica run Ready by their own probes on the
// node, and names the pod and what it waits for when they do not.
func (s *stack) waitReady(t *testing.T) {
	t.Helper()
	kubetest.Eventually(t, readyTimeout, "MySQL and the app Ready on "+nodetest.NodeName, func(ctx context.Context) error {
		pods, err := s.w.client.CoreV1().Pods(s.namespace).List(ctx, metav1.ListOptions{})
		if err != nil {
			return err
		}
		app := 0
		mysql := false
		for _, p := range pods.Items {
			if p.DeletionTimestamp != nil {
				continue
			}
			if !kubetest.PodReady(&p) {
				return fmt.Errorf("pod %s not Ready: %s", p.Name, podProblem(&p))
			}
			if p.Name == mysqlPod {
				mysql = true
			} else {
				app++
			}
		}
		if want := s.config["appReplicas"]; !mysql || fmt.Sprint(app) != want {
			return fmt.Errorf("ready: mysql-0 %v, %d app pods (want %s)", mysql, app, want)
		}
		return nil
	})
}

// podProblem says why a pod is not Ready: its phase, waiting or terminated containers and
// conditions, so a timed-out wait names the probe, image or volume at fault.
func podProblem(p *corev1.Pod) string {
	parts := []string{"phase " + string(p.Status.Phase)}
	for _, c := range p.Status.Conditions {
		if c.Status != corev1.ConditionTrue && c.Message != "" {
			parts = append(parts, fmt.Sprintf("%s: %s", c.Type, c.Message))
		}
	}
	for _, c := range append(p.Status.InitContainerStatuses, p.Status.ContainerStatuses...) {
		switch {
		case c.State.Waiting != nil:
			parts = append(parts, fmt.Sprintf("container %s waiting: %s %s", c.Name, c.State.Waiting.Reason, c.State.Waiting.Message))
		case c.State.Terminated != nil:
			parts = append(parts, fmt.Sprintf("container %s terminated: %s (exit %d)", c.Name, c.State.Terminated.Reason, c.State.Terminated.ExitCode))
		case !c.Ready:
			parts = append(parts, fmt.Sprintf("container %s running, not ready (restarts %d)", c.Name, c.RestartCount))
		}
	}
	return strings.Join(parts, "; ")
}

// underLoad runs loadClients closed-loop clients against the app's Service while disrupt
// runs, and for settle after it, then returns the history. Every history is checked: no
// number twice, increasing per client, linearizable. The requests still in flight when
// the load is stopped are cut by the test itself and left out: unanswered ones that ended
// in the last second before the stop (Run starts a moment after started, so its times
// are a little smaller than ours; a second covers a busy machine's scheduling).
func (s *stack) underLoad(t *testing.T, settle time.Duration, disrupt func()) []loadtest.Op {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	type result struct {
		res *loadtest.Result
		err error
	}
	done := make(chan result, 1)
	url := s.serviceURL(t)
	started := time.Now()
	go func() {
		res, err := loadtest.Run(ctx, loadtest.Config{URLs: []string{url}, Clients: loadClients, Duration: 15 * time.Minute, Timeout: loadTimeout})
		done <- result{res, err}
	}()
	time.Sleep(2 * time.Second) // numbers before the disruption
	disrupt()
	time.Sleep(settle)
	stopped := time.Since(started)
	cancel()
	r := <-done
	if r.res == nil {
		t.Fatalf("load against %s: %v", url, r.err)
	}
	var ops []loadtest.Op
	for _, o := range r.res.Ops {
		if o.OK() || o.Status != 0 || o.Return < stopped-time.Second {
			ops = append(ops, o)
		}
	}
	if err := loadtest.CheckHistory(ops, time.Minute); err != nil {
		t.Errorf("history of %d requests: %v", len(ops), err)
	}
	return ops
}

// statuses counts the history's answers by HTTP status (0: no answer).
func statuses(ops []loadtest.Op) map[int]int {
	m := map[int]int{}
	for _, o := range ops {
		m[o.Status]++
	}
	return m
}

// failures lists the distinct errors of the history's failed requests (at most a few),
// but for those answered with an expected status, to say why a request got no number.
func failures(ops []loadtest.Op, expected ...int) []string {
	seen := map[string]bool{}
	var out []string
	for _, o := range ops {
		if o.Err == nil || slices.Contains(expected, o.Status) {
			continue
		}
		if e := o.Err.Error(); !seen[e] && len(out) < 5 {
			seen[e] = true
			out = append(out, fmt.Sprintf("at %s: %s", o.Call.Round(time.Millisecond), e))
		}
	}
	return out
}

// TestUserLife runs one stack through what its users do, on real containers: up, the
// drills under load, upgrades and a node restart, then a destroy that keeps the volume and
// a new stack that adopts it, and a destroy that deletes it.
func TestUserLife(t *testing.T) {
	w := newWorld(t)
	s := w.newStack(t, "counter", nil)
	ctx := t.Context()
	cleanedUp := false
	t.Cleanup(func() {
		if !cleanedUp {
			_, _ = s.RunDestroy(t, true)
		}
	})

	if !t.Run("up: MySQL and the app Ready by their real probes", func(t *testing.T) {
		s.MustUp(t)
		s.waitReady(t)
		a, b := s.number(t), s.number(t)
		if b <= a {
			t.Errorf("numbers %d then %d: want increasing", a, b)
		}
		ips, err := w.node.Resolver().LookupHost(ctx, "mysql-0.mysql."+s.namespace+".svc.cluster.local")
		pod, perr := w.client.CoreV1().Pods(s.namespace).Get(ctx, mysqlPod, metav1.GetOptions{})
		if err != nil || perr != nil || len(ips) != 1 || ips[0] != pod.Status.PodIP {
			t.Errorf("mysql-0's DNS name resolves to %v (%v), want its pod IP (%v)", ips, err, perr)
		}
		if got := s.appEnv(t)["REQUEST_TIMEOUT"]; got != requestTimeout.String() {
			t.Errorf("the app runs with REQUEST_TIMEOUT %q, want requestTimeout's %s", got, requestTimeout)
		}
	}) {
		t.FailNow()
	}

	t.Run("a second up and preview change nothing", func(t *testing.T) {
		// This cluster has no Prometheus Operator: monitoring auto says so and creates nothing.
		_, out, err := s.RunPreview(t, optpreview.ExpectNoChanges())
		if err != nil {
			t.Error(err)
		}
		if want := "monitoring: counter-mysql:monitoring is auto and the cluster does not serve monitoring.coreos.com/v1"; !strings.Contains(out, want) {
			t.Errorf("the preview does not say %q:\n%s", want, out)
		}
		res, _ := s.MustUp(t)
		for op, n := range *res.Summary.ResourceChanges {
			if op != "same" && op != "read" && n > 0 { // a read is the program looking, not a change
				t.Errorf("second up: %d %s, want no change (%v)", n, op, *res.Summary.ResourceChanges)
			}
		}
	})

	t.Run("monitoring on without the Prometheus Operator is refused at preview", func(t *testing.T) {
		s.SetConfig(t, map[string]string{"monitoring": "on"})
		defer s.SetConfig(t, map[string]string{"monitoring": "auto"})
		_, out, err := s.RunPreview(t)
		if err == nil || !strings.Contains(out, "counter-mysql:monitoring is on, but the cluster does not serve monitoring.coreos.com/v1") ||
			!strings.Contains(out, "install the Prometheus Operator") {
			t.Errorf("preview with monitoring on: %v, want it refused naming the fix:\n%s", err, out)
		}
	})

	t.Run("deleting mysql-0 under load: 503 while it is away, then numbers go on", func(t *testing.T) {
		before := s.number(t)
		var retryAfter string
		ops := s.underLoad(t, 5*time.Second, func() {
			old, err := w.client.CoreV1().Pods(s.namespace).Get(ctx, mysqlPod, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if err := w.client.CoreV1().Pods(s.namespace).Delete(ctx, mysqlPod, metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
			retryAfter = s.outage(t)
			kubetest.Eventually(t, readyTimeout, "a new mysql-0 Ready on the same claim", func(ctx context.Context) error {
				p, err := w.client.CoreV1().Pods(s.namespace).Get(ctx, mysqlPod, metav1.GetOptions{})
				if err != nil {
					return err
				}
				if p.UID == old.UID || !kubetest.PodReady(p) {
					return fmt.Errorf("not replaced and Ready yet: %s", podProblem(p))
				}
				return nil
			})
			s.waitReady(t)
			s.number(t) // serving again
		})
		checkOutage(t, ops, before, retryAfter)
	})

	t.Run("kill -9 of mysqld under load: nothing acknowledged is handed out again", func(t *testing.T) {
		before := s.number(t)
		restarts := s.mysqlRestarts(t)
		var retryAfter string
		ops := s.underLoad(t, 5*time.Second, func() {
			n, err := nodetest.Kill("mysqld")
			if err != nil || n != 1 {
				t.Fatalf("kill -9 of mysqld: killed %d (%v), want the one in mysql-0", n, err)
			}
			retryAfter = s.outage(t)
			// Until the kubelet has seen the kill, the pods' Ready is from before it: the
			// drill would end while mysql-0, and with it the app, turns NotReady, and the
			// next scenario would find the app's Service without endpoints.
			kubetest.Eventually(t, readyTimeout, "the kubelet restarting mysql-0's container", func(context.Context) error {
				if n := s.mysqlRestarts(t); n <= restarts {
					return fmt.Errorf("restarted %d times, as before the kill", n)
				}
				return nil
			})
			s.waitReady(t)
			s.number(t) // serving again: InnoDB's crash recovery may outlast Ready on a busy machine
		})
		checkOutage(t, ops, before, retryAfter)
	})

	// A rollout must fail no request: no reset, none unanswered (SHUTDOWN_DELAY, readiness
	// and endpoints are there for that), and no 503 either, as MySQL stays up throughout
	// (requestTimeout keeps a starved machine's slow statement from becoming one).
	t.Run("rolling update of the app under load: every request answered 200", func(t *testing.T) {
		next := strings.Replace(nodetest.AppImage, ":1", ":2", 1)
		if err := w.node.TagImage(ctx, nodetest.AppImage, next); err != nil {
			t.Fatal(err)
		}
		s.SetConfig(t, map[string]string{"appImage": next})
		ops := s.underLoad(t, 3*time.Second, func() { s.MustUp(t) })
		st := statuses(ops)
		if st[http.StatusOK] != len(ops) {
			t.Errorf("during the rollout: %v answers by status (0: none), want only 200s; failures: %q", st, failures(ops))
		}
		t.Logf("during the rollout: %v answers by status", st)
	})

	t.Run("MySQL minor upgrade by up: the pod restarts on the same data", func(t *testing.T) {
		before := s.number(t)
		claim, err := w.client.CoreV1().PersistentVolumeClaims(s.namespace).Get(ctx, database.ClaimName, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		v := nodetest.MySQLVersions[1]
		s.SetConfig(t, map[string]string{"mysqlVersion": v, "mysqlImage": nodetest.MySQLImage(v)})
		res, _ := s.MustUp(t)
		if got := res.Outputs["mysqlVersion"].Value; got != v {
			t.Errorf("output mysqlVersion %v, want %s", got, v)
		}
		pod, err := w.client.CoreV1().Pods(s.namespace).Get(ctx, mysqlPod, metav1.GetOptions{})
		if err != nil || pod.Spec.Containers[0].Image != nodetest.MySQLImage(v) {
			t.Errorf("mysql-0 runs %v, want %s (%v)", pod.Spec.Containers[0].Image, nodetest.MySQLImage(v), err)
		}
		after, err := w.client.CoreV1().PersistentVolumeClaims(s.namespace).Get(ctx, database.ClaimName, metav1.GetOptions{})
		if err != nil || after.UID != claim.UID || after.Spec.VolumeName != claim.Spec.VolumeName {
			t.Errorf("the claim changed across the upgrade: %v", err)
		}
		if n := s.number(t); n <= before {
			t.Errorf("after the upgrade: %d, want above %d", n, before)
		}
	})

	t.Run("password rotation by up: MySQL and the app follow the Secret", func(t *testing.T) {
		before := s.number(t)
		urns := s.PasswordURNs(t)
		var upTook time.Duration
		ops := s.underLoad(t, 5*time.Second, func() {
			start := time.Now()
			s.MustUp(t, optup.Replace(urns))
			upTook = time.Since(start)
		})
		if longest := longestFailure(ops); longest > upTook {
			t.Errorf("requests failed for %s in a row, longer than the rollout (%s)", longest, upTook)
		}
		if n := s.number(t); n <= before {
			t.Errorf("after the rotation: %d, want above %d", n, before)
		}
	})

	t.Run("a node restart: the pods come back and the count goes on", func(t *testing.T) {
		before := s.number(t)
		if err := w.node.Reboot(ctx); err != nil {
			t.Fatal(err)
		}
		s.waitReady(t)
		if n := s.number(t); n <= before {
			t.Errorf("after the restart: %d, want above %d", n, before)
		}
	})

	var kept string
	last := s.number(t)
	t.Run("destroy with retainVolumes keeps the volume's data", func(t *testing.T) {
		s.SetConfig(t, map[string]string{"retainVolumes": "true"})
		if _, err := s.RunDestroy(t, true); err != nil {
			t.Fatal(err)
		}
		cleanedUp = true
		kept = keptVolume(t, w, s.namespace)
	})

	t.Run("a new stack adopts the kept volume: new passwords work and the count goes on", func(t *testing.T) {
		if kept == "" {
			t.Skip("no kept volume")
		}
		next := w.newStack(t, s.namespace, nil)
		t.Cleanup(func() { _, _ = next.RunDestroy(t, true) })
		next.MustUp(t)
		next.waitReady(t)
		claim, err := w.client.CoreV1().PersistentVolumeClaims(next.namespace).Get(ctx, database.ClaimName, metav1.GetOptions{})
		if err != nil || claim.Spec.VolumeName != kept {
			t.Errorf("the new claim is bound to %q, want the kept volume %s (%v)", claim.Spec.VolumeName, kept, err)
		}
		if n := next.number(t); n <= last {
			t.Errorf("the new stack hands out %d, want above %d, the old stack's last", n, last)
		}
		t.Run("destroy without retainVolumes deletes the volume and its directory", func(t *testing.T) {
			pv, err := w.client.CoreV1().PersistentVolumes().Get(ctx, kept, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			dir := nodetest.VolumeDir(pv)
			if _, err := os.Stat(filepath.Join(dir, "data", "mysql")); err != nil {
				t.Fatalf("the volume's directory %s holds no MySQL data directory: %v", dir, err)
			}
			if _, err := next.RunDestroy(t, true); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(dir); !os.IsNotExist(err) {
				t.Errorf("the volume's directory %s is still there after the destroy (%v)", dir, err)
			}
			if _, err := w.client.CoreV1().PersistentVolumes().Get(ctx, kept, metav1.GetOptions{}); err == nil {
				t.Errorf("PersistentVolume %s is still there after the destroy", kept)
			}
		})
	})
}

// mysqlRestarts is how often the kubelet has restarted mysql-0's MySQL container.
func (s *stack) mysqlRestarts(t *testing.T) int32 {
	t.Helper()
	pod, err := s.w.client.CoreV1().Pods(s.namespace).Get(t.Context(), mysqlPod, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range pod.Status.ContainerStatuses {
		if c.Name == "mysql" {
			return c.RestartCount
		}
	}
	t.Fatalf("pod %s has no container mysql: %s", mysqlPod, podProblem(pod))
	return 0
}

// outage waits, while MySQL is away, for the app's answer through its Service to be a
// 503 (never an error page) and returns its Retry-After.
func (s *stack) outage(t *testing.T) string {
	t.Helper()
	url := s.serviceURL(t)
	var retryAfter string
	kubetest.Eventually(t, time.Minute, "a 503 from the app while MySQL is away", func(ctx context.Context) error {
		_, resp, err := getNumber(ctx, url)
		if resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
			return fmt.Errorf("got %v", err)
		}
		retryAfter = resp.Header.Get("Retry-After")
		return nil
	})
	return retryAfter
}

// checkOutage checks a history across a MySQL outage: only 200s and 503s (with
// Retry-After), some of each, and numbers above every one handed out before.
func checkOutage(t *testing.T, ops []loadtest.Op, before int64, retryAfter string) {
	t.Helper()
	st := statuses(ops)
	if st[http.StatusOK]+st[http.StatusServiceUnavailable] != len(ops) || st[http.StatusServiceUnavailable] == 0 {
		t.Errorf("answers by status %v: want 200s, and 503s while MySQL was away, nothing else; failures: %q", st, failures(ops, http.StatusServiceUnavailable))
	}
	if retryAfter != "1" {
		t.Errorf("503 during the outage had Retry-After %q, want 1", retryAfter)
	}
	var lastOK time.Duration
	for _, o := range ops {
		if o.OK() {
			if o.Number <= before {
				t.Errorf("number %d handed out again (the last before the drill was %d)", o.Number, before)
			}
			lastOK = max(lastOK, o.Return)
		}
	}
	if lastOK < ops[len(ops)-1].Call-5*time.Second {
		t.Errorf("no number in the last seconds of the drill: the app did not serve again (%d ops)", len(ops))
	}
}

// longestFailure is the longest stretch in which every request that ended failed.
func longestFailure(ops []loadtest.Op) time.Duration {
	var longest time.Duration
	var since time.Duration = -1
	for _, o := range ops {
		switch {
		case o.OK():
			since = -1
		case since < 0:
			since = o.Call
		default:
			longest = max(longest, o.Return-since)
		}
	}
	return longest
}

// keptVolume is the one volume of namespace's claim, kept (Retain) after a destroy.
func keptVolume(t *testing.T, w *world, namespace string) string {
	t.Helper()
	pvs, err := w.client.CoreV1().PersistentVolumes().List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var kept []string
	for _, pv := range pvs.Items {
		if ref := pv.Spec.ClaimRef; ref != nil && ref.Namespace == namespace && pv.Spec.PersistentVolumeReclaimPolicy == corev1.PersistentVolumeReclaimRetain {
			kept = append(kept, pv.Name)
		}
	}
	if len(kept) != 1 {
		t.Fatalf("want the one kept volume of namespace %s, found %v", namespace, kept)
	}
	return kept[0]
}
