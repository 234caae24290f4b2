package enginetest

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestBadConfig: through the real engine, a bad stack setting stops preview and up with the
// program's one message naming the key, and nothing is created.
func TestBadConfig(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	s := w.newStack(t, nil)
	for _, tc := range []struct{ key, value, valid string }{
		{"mysqlVersion", "7.5", "8.4"},
		{"appReplicas", "0", "2"},
		{"mode", "k3s", "existing"},
		{"namespace", "kube-system", s.namespace},
	} {
		t.Run(tc.key+"="+tc.value, func(t *testing.T) {
			s.SetConfig(t, map[string]string{tc.key: tc.value})
			defer s.SetConfig(t, map[string]string{tc.key: tc.valid})
			want := "counter-mysql:" + tc.key
			_, out, err := s.RunPreview(t)
			if err == nil {
				t.Fatalf("preview accepted %s=%s", tc.key, tc.value)
			}
			mustContain(t, "preview", err.Error()+out, "invalid stack configuration", want)
			_, out, err = s.RunUp(t)
			if err == nil {
				t.Fatalf("up accepted %s=%s", tc.key, tc.value)
			}
			mustContain(t, "up", err.Error()+out, want)
		})
	}
	t.Run("a mistyped key", func(t *testing.T) {
		s.SetConfig(t, map[string]string{"mysqlversion": "8.0"})
		defer func() {
			if err := s.RemoveConfig(t.Context(), "counter-mysql:mysqlversion"); err != nil {
				t.Error(err)
			}
		}()
		_, out, err := s.RunPreview(t)
		if err == nil {
			t.Fatal("preview accepted counter-mysql:mysqlversion (the default 8.4 would silently apply)")
		}
		mustContain(t, "preview", err.Error()+out, "counter-mysql:mysqlversion is not a setting", "did you mean counter-mysql:mysqlVersion?")
	})
	// Keys the program treats as optional must be optional to the CLI too: it refuses a
	// stack that leaves a declared key without a default unset, before the program runs.
	t.Run("optional keys left unset", func(t *testing.T) {
		for _, key := range []string{"storageClassName", "appImage"} {
			if err := s.RemoveConfig(t.Context(), "counter-mysql:"+key); err != nil {
				t.Fatal(err)
			}
		}
		defer s.SetConfig(t, map[string]string{"storageClassName": storageClass, "appImage": appImage})
		// Without appImage, existing mode fails in the program, naming the key and the fix;
		// storageClassName unset is accepted (the cluster's default class).
		_, out, err := s.RunPreview(t)
		if err == nil {
			t.Fatal("preview accepted mode existing without appImage")
		}
		mustContain(t, "preview", err.Error()+out, "counter-mysql:appImage is required with mode existing")
		s.SetConfig(t, map[string]string{"appImage": appImage})
		if _, _, err := s.RunPreview(t); err != nil {
			t.Errorf("preview refused a stack without storageClassName: %v", err)
		}
	})
	_, err := w.client.CoreV1().Namespaces().Get(t.Context(), s.namespace, metav1.GetOptions{})
	notFound(t, "namespace "+s.namespace, err)
	if st := s.State(t); strings.Contains(st, "pulumi:providers:kubernetes") || strings.Contains(st, "kubernetes:core/v1") {
		t.Errorf("refused updates left Kubernetes resources in the state:\n%s", st)
	}
}
