// Command coredns is CoreDNS with only the plugins a cluster DNS needs: those of the
// Corefile kubeadm writes (errors, health, ready, kubernetes, prometheus, forward, cache,
// loop, reload, loadbalance) plus log, bind and whoami for tests. CoreDNS's own main
// imports every plugin (core/plugin), the cloud SDKs of route53, azure and clouddns among
// them; importing fewer plugins and trimming dnsserver.Directives to match before
// coremain.Run is how CoreDNS documents custom builds.
package main

import (
	"slices"
	"strings"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/forward"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/loop"
	_ "github.com/coredns/coredns/plugin/metrics" // directive "prometheus"
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/reload"
	_ "github.com/coredns/coredns/plugin/whoami"
)

func main() {
	// Keep CoreDNS's own order (plugin.cfg: each plugin only sees the queries those
	// before it pass on) but only the plugins compiled in: those above and what they
	// import themselves (metadata, debug, dnstap, transfer). A Corefile that names any
	// other then fails with "unknown directive" and `coredns -plugins` lists exactly these.
	compiled := map[string]bool{}
	for _, p := range caddy.ListPlugins()["others"] { // "dns.cache", ...
		if name, ok := strings.CutPrefix(p, "dns."); ok {
			compiled[name] = true
		}
	}
	dnsserver.Directives = slices.DeleteFunc(slices.Clone(dnsserver.Directives), func(d string) bool { return !compiled[d] })
	coremain.Run()
}
