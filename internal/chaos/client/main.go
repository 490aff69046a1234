// Command client is one client process of the fault suite (internal/chaos):
// it reads its configuration from REDLEASE_CHAOS_CLIENT and runs the
// workload until its deadline or SIGTERM. The suite builds it with the
// build tag redlease_faults, so that the fault seam can skew its clock or
// break a guarantee on purpose (internal/faultseam).
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/redlease/redlease/internal/chaos"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := chaos.RunClientFromEnv(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
