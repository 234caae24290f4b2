// Command infra is the Pulumi program of counter-mysql; see package stack.
package main

import (
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/counter-mysql/counter-mysql/infra/stack"
)

func main() {
	pulumi.Run(stack.Program)
}
