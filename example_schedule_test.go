package durable_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"time"

	"github.com/durable-go/durable"
	"github.com/durable-go/durable/clock"
	"github.com/durable-go/durable/storage/memory"
)

// A report is sent at 09:30, Paris time, on weekdays. Every process that
// runs the schedule registers it; each tick makes one execution, whichever
// executors fire it. The example drives time with a fake clock, so that it
// need not wait for 09:30; a program uses the real one (the default).
func ExampleExecutor_Schedule() {
	ctx := context.Background()
	store := memory.New()
	defer store.Close()
	fc := clock.NewFake(time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)) // Tuesday, 10:00 in Paris
	ex, err := durable.New(store, durable.Config{Clock: fc, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		log.Fatal(err)
	}
	sent := make(chan string, 1)
	report := durable.Must(durable.NewTask(ex, "send_report",
		func(ctx context.Context, team string) (string, error) {
			info, _ := durable.Info(ctx)
			sent <- fmt.Sprintf("report for %s, tick %s", team, info.Metadata[durable.MetadataTick])
			return "sent", nil
		}))
	err = ex.Schedule("morning-report", report, "sales", durable.Cron("0 30 9 * * 1-5", "Europe/Paris"),
		durable.WithMissed(durable.MissedSkip)) // the default: a report missed while every executor was down is not sent late
	if err != nil {
		log.Fatal(err)
	}
	if err := ex.Start(ctx); err != nil { // registers the schedule in the store
		log.Fatal(err)
	}
	defer ex.Shutdown(ctx)

	paris, _ := time.LoadLocation("Europe/Paris")
	schedules, err := ex.Schedules(ctx) // in any process on the store
	if err != nil {
		log.Fatal(err)
	}
	for _, s := range schedules {
		fmt.Printf("%s: %s, %s, next %s\n", s.Name, s.TaskID, s.Spec(), s.Next.In(paris).Format("Mon 15:04 MST"))
	}

	fc.Set(schedules[0].Next) // 09:30 in Paris
	fmt.Println(<-sent)

	if _, err := ex.PauseSchedule(ctx, "morning-report"); err != nil { // its ticks are skipped until ResumeSchedule
		log.Fatal(err)
	}
	schedules, _ = ex.Schedules(ctx)
	fmt.Println("paused:", schedules[0].Paused)
	// Output:
	// morning-report: send_report, cron 0 30 9 * * 1-5 Europe/Paris, next Wed 09:30 CET
	// report for sales, tick 2026-12-02T08:30:00Z
	// paused: true
}
