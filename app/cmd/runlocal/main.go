// Command runlocal is `make run-local`: the whole system on one machine without a cloud.
// It starts a throwaway MariaDB (or MySQL 8) on 127.0.0.1 (app/mysqltest), creates the
// counter database and the app's least-privilege user (exactly schema.Privileges on it,
// as the cluster's init script does), runs the counter app against it and prints the URL
// to curl. Ctrl-C stops the app (gracefully), then the database, and deletes its data.
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"

	"github.com/counter-mysql/counter-mysql/app/mysqltest"
	"github.com/counter-mysql/counter-mysql/app/schema"
)

func main() {
	app := flag.String("app", "bin/counter", "the counter app binary (`make run-local` builds it)")
	listen := flag.String("listen", "127.0.0.1:8080", "the app's LISTEN_ADDR")
	flag.Parse()
	ctx, cancel := context.WithCancel(context.Background())
	// Caught for the whole run, not only once: a second Ctrl-C must not kill this process
	// before it has stopped the database and deleted its data.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() { <-sigs; cancel() }()
	if err := run(ctx, *app, *listen, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "run-local:", err)
		os.Exit(1)
	}
}

// appUser is the app's account, reachable from loopback TCP only (the server runs with
// skip-name-resolve, so clients are matched by address).
const appUser = "'counter'@'127.0.0.1'"

// run serves until ctx ends or the app exits, then stops both.
func run(ctx context.Context, app, listen string, out io.Writer) (err error) {
	fmt.Fprintln(out, "run-local: starting a throwaway MySQL-compatible server (a few seconds)")
	srv, err := mysqltest.Start(ctx, mysqltest.Options{})
	if err != nil {
		return err
	}
	defer func() {
		fmt.Fprintln(out, "run-local: stopping the database and deleting its data")
		err = errors.Join(err, srv.Stop())
	}()
	password := rand.Text()
	for _, q := range []string{
		"CREATE DATABASE `" + schema.Database + "`",
		"CREATE USER " + appUser + " IDENTIFIED BY '" + password + "'",
		"GRANT " + schema.Privileges + " ON `" + schema.Database + "`.* TO " + appUser,
	} {
		if err := srv.Exec(ctx, q); err != nil {
			return err
		}
	}
	host, port, _ := net.SplitHostPort(srv.Addr())
	cmd := exec.Command(app)
	cmd.Env = append(os.Environ(), "LISTEN_ADDR="+listen, "MYSQL_HOST="+host, "MYSQL_PORT="+port,
		"MYSQL_USER=counter", "MYSQL_PASSWORD="+password, "MYSQL_DATABASE="+schema.Database, "LOG_FORMAT=text")
	cmd.Stdout, cmd.Stderr = out, out
	// Its own process group: a terminal's Ctrl-C reaches only this process, which sends the
	// app one SIGTERM (a second signal would make the app skip its graceful shutdown).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting the app (%s; `make run-local` builds it): %w", app, err)
	}
	a := &appProcess{cmd: cmd, exited: make(chan struct{})}
	go func() { a.err = cmd.Wait(); close(a.exited) }()

	url := "http://" + reachable(listen)
	if err := waitReady(ctx, url+"/readyz", a); err != nil {
		return errors.Join(err, a.stop(out))
	}
	fmt.Fprintf(out, `run-local: the counter is up: curl -s %s/get-number
run-local: MySQL on %s: database %s, user counter (%s on %s.* only); admin: mysql -h %s -P %s -u root
run-local: its data is in %s and is deleted when this stops; Ctrl-C stops the app and the database
`, url, srv.Addr(), schema.Database, schema.Privileges, schema.Database, host, port, srv.DataDir())
	select {
	case <-ctx.Done():
		return a.stop(out)
	case <-a.exited:
		return fmt.Errorf("the app exited: %v", a.err)
	}
}

// appProcess is the running app; err is its exit status once exited is closed.
type appProcess struct {
	cmd    *exec.Cmd
	exited chan struct{}
	err    error
}

// reachable turns a listen address into one to connect to: ":8080" listens on every
// interface, and loopback is one of them.
func reachable(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil || (host != "" && !net.ParseIP(host).IsUnspecified()) {
		return listen
	}
	return net.JoinHostPort("127.0.0.1", port)
}

// waitReady polls url until it answers 200, the app exits or a minute passes.
func waitReady(ctx context.Context, url string, a *appProcess) error {
	deadline := time.After(time.Minute)
	for {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-a.exited:
			return fmt.Errorf("the app exited before it was ready: %v", a.err)
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline:
			return fmt.Errorf("%s did not answer 200 within a minute", url)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// stop sends the app SIGTERM, unless it has exited, and waits for its graceful shutdown
// (SHUTDOWN_TIMEOUT, 20 s by default), killing it if it takes longer.
func (a *appProcess) stop(out io.Writer) error {
	select {
	case <-a.exited:
		return nil // already reported by the caller
	default:
	}
	fmt.Fprintln(out, "run-local: stopping the app")
	if err := a.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	select {
	case <-a.exited:
		return a.err
	case <-time.After(30 * time.Second):
		return errors.Join(errors.New("the app did not stop within 30 s of SIGTERM; killed"), a.cmd.Process.Kill())
	}
}
