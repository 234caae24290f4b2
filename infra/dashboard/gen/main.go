// Command gen writes the dashboard's JSON to the file its argument names:
// `go generate ./infra/dashboard` regenerates docs/grafana-dashboard.json.
package main

import (
	"fmt"
	"os"

	"github.com/counter-mysql/counter-mysql/infra/dashboard"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: gen FILE")
		os.Exit(2)
	}
	b, err := dashboard.JSON()
	if err == nil {
		err = os.WriteFile(os.Args[1], b, 0o644)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}
