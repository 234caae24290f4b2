package kubetest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// stopGrace is how long a component may take to exit after SIGTERM before it is killed.
const stopGrace = 10 * time.Second

// Process is one started component. It runs in its own process group, so stopping it
// (by its saved PID) reaches nothing else on the machine.
type Process struct {
	name    string
	cmd     *exec.Cmd
	LogFile string
	done    chan struct{} // closed when the process has exited
	err     error         // exit status, valid once done is closed
	// ended is set by Stop and Kill: the process was ended on purpose, not failed.
	ended atomic.Bool
}

// startProcess starts bin with args, stdout and stderr appended to dir/name.log.
func startProcess(dir, name, bin string, args ...string) (*Process, error) {
	logFile := filepath.Join(dir, name+".log")
	// Appended, not truncated: a component started again (the real node's restart
	// scenario) keeps its predecessor's log, which is what a failure report needs.
	out, err := os.OpenFile(logFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Dir = dir
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		out.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &Process{name: name, cmd: cmd, LogFile: logFile, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		out.Close()
		close(p.done)
	}()
	return p, nil
}

// Exited reports an error if the process has ended other than by Stop or Kill, which
// during start-up means it failed.
func (p *Process) Exited() error {
	if p.ended.Load() {
		return nil
	}
	select {
	case <-p.done:
		return fmt.Errorf("%s exited during start-up (%v); log %s:\n%s", p.name, p.err, p.LogFile, p.logTail())
	default:
		return nil
	}
}

// Stop ends the process group with SIGTERM, then SIGKILL after stopGrace; a process
// that has already exited is left alone.
func (p *Process) Stop() error {
	p.ended.Store(true)
	select {
	case <-p.done: // already exited and reaped: its PID may belong to someone else now
		return nil
	default:
	}
	pgid := p.cmd.Process.Pid
	if err := syscall.Kill(-pgid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("stopping %s (pid %d): %w", p.name, pgid, err)
	}
	select {
	case <-p.done:
		return nil
	case <-time.After(stopGrace):
	}
	if err := syscall.Kill(-pgid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("killing %s (pid %d): %w", p.name, pgid, err)
	}
	<-p.done
	return fmt.Errorf("%s (pid %d) ignored SIGTERM for %s and was killed", p.name, pgid, stopGrace)
}

// Kill ends the process group at once with SIGKILL, as a crash would, and waits for it.
func (p *Process) Kill() error {
	p.ended.Store(true)
	select {
	case <-p.done:
		return nil
	default:
	}
	if err := syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("killing %s (pid %d): %w", p.name, p.cmd.Process.Pid, err)
	}
	<-p.done
	return nil
}

// logTail returns the end of the process's log, enough to show why it failed.
func (p *Process) logTail() string {
	const max = 4000
	b, err := os.ReadFile(p.LogFile)
	if err != nil {
		return err.Error()
	}
	if len(b) > max {
		b = b[len(b)-max:]
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	return string(b)
}

// errorLine matches error and fatal lines of klog (E1124 ...), etcd and kwok (JSON).
var errorLine = regexp.MustCompile(`^[EF]\d{4} |"level":"(?i:error|fatal|panic)"`)

// recentErrors returns the last error lines of the process's log: the end of a log
// is just shutdown noise by the time a failed test's report is written.
func (p *Process) recentErrors() string {
	const maxLines, maxLen = 15, 300
	b, err := os.ReadFile(p.LogFile)
	if err != nil {
		return err.Error()
	}
	var lines []string
	for line := range strings.Lines(string(b)) {
		if errorLine.MatchString(line) {
			if len(line) > maxLen {
				line = line[:maxLen] + "...\n"
			}
			lines = append(lines, line)
		}
	}
	if len(lines) > maxLines {
		lines = lines[len(lines)-maxLines:]
	}
	if len(lines) == 0 {
		return "(no errors logged)\n"
	}
	return strings.Join(lines, "")
}
