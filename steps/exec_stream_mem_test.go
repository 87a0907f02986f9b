package steps

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cairn-dev/cairn/playbooks"
)

// 50 MB of output, in lines and without a newline at all, passes through
// exec to Output without the heap growing with it: output is streamed,
// never collected. A bound on memory, not on time.
func TestExecOutputStreamsInBoundedMemory(t *testing.T) {
	const total = 50 << 20
	for name, script := range map[string]string{
		"lines":      "yes 'some tool output, one line of it' | head -c 52428800",
		"no newline": "head -c 52428800 /dev/zero | tr '\\000' x",
	} {
		t.Run(name, func(t *testing.T) {
			p := &ExecParams{Argv: sh(script)}
			if errs := p.Validate(); len(errs) > 0 {
				t.Fatal(errs)
			}
			ex, err := NewRegistry(Deps{}).Executor("exec")
			if err != nil {
				t.Fatal(err)
			}
			var got atomic.Int64
			runtime.GC()
			var base runtime.MemStats
			runtime.ReadMemStats(&base)
			var peak atomic.Uint64
			stop := make(chan struct{})
			var wg sync.WaitGroup
			wg.Go(func() {
				var m runtime.MemStats
				for {
					runtime.ReadMemStats(&m)
					if m.HeapInuse > peak.Load() {
						peak.Store(m.HeapInuse)
					}
					select {
					case <-stop:
						return
					case <-time.After(2 * time.Millisecond):
					}
				}
			})
			_, err = ex.Run(t.Context(), Instance{RunID: "r1", StepID: "s1", Attempt: 1, Params: p,
				Redactor: playbooks.NewRedactor([]string{"not-in-the-output"}),
				Output:   func(_, line string) { got.Add(int64(len(line)) + 1) }})
			close(stop)
			wg.Wait()
			if err != nil {
				t.Fatal(err)
			}
			if n := got.Load(); n < total-total/100 {
				t.Errorf("Output received %d bytes of %d", n, total)
			}
			if grew := int64(peak.Load()) - int64(base.HeapInuse); grew > 16<<20 {
				t.Errorf("heap grew by %d MB while streaming 50 MB", grew>>20)
			}
		})
	}
}
