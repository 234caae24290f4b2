// Package enginelog sends log records to the Pulumi engine, so that what code running
// inside a deployment says (the volume clean-up in a resource hook, for minutes) appears in
// the output of `pulumi up` and `pulumi destroy`. Records written to slog.Default() there
// are printed nowhere the user looks.
package enginelog

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// New returns a logger whose Info, Warn and Error records go to the engine's log as one
// line each, "message key=value ...". Debug records are dropped: the CLI shows them only
// with -v, where the engine's own debug output drowns them.
func New(log pulumi.Log) *slog.Logger {
	return slog.New(&handler{log: log})
}

type handler struct {
	log    pulumi.Log
	attrs  []slog.Attr
	prefix string // group names, "a.b."
}

func (h *handler) Enabled(_ context.Context, level slog.Level) bool { return level >= slog.LevelInfo }

func (h *handler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	for _, a := range h.attrs {
		write(&b, "", a)
	}
	r.Attrs(func(a slog.Attr) bool {
		write(&b, h.prefix, a)
		return true
	})
	msg := b.String()
	switch {
	case r.Level >= slog.LevelError:
		return h.log.Error(msg, nil)
	case r.Level >= slog.LevelWarn:
		return h.log.Warn(msg, nil)
	default:
		return h.log.Info(msg, nil)
	}
}

func (h *handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	n := *h
	n.attrs = slices.Clone(h.attrs)
	for _, a := range attrs {
		n.attrs = append(n.attrs, slog.Attr{Key: h.prefix + a.Key, Value: a.Value})
	}
	return &n
}

func (h *handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	n := *h
	n.prefix = h.prefix + name + "."
	return &n
}

// write appends " key=value", quoting values with spaces, and flattens groups.
func write(b *strings.Builder, prefix string, a slog.Attr) {
	v := a.Value.Resolve()
	if v.Kind() == slog.KindGroup {
		for _, g := range v.Group() {
			write(b, prefix+a.Key+".", g)
		}
		return
	}
	if a.Key == "" {
		return
	}
	s := v.String()
	if strings.ContainsAny(s, " \t\n\"=") || s == "" {
		s = strconv.Quote(s)
	}
	fmt.Fprintf(b, " %s%s=%s", prefix, a.Key, s)
}
