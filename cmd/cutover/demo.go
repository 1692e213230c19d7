package main

import (
	"os"

	"github.com/spf13/cobra"

	"github.com/cutover/cutover/internal/demo"
)

func newDemoCmd() *cobra.Command {
	var dir string
	var files int
	var serve bool
	c := &cobra.Command{
		Use:   "demo",
		Short: "The whole flow on generated data: plan, presync, the application writes, presync, final, GO/NO-GO",
		Long: `Run plan → presync → (the application writes) → presync → final on generated
data: a Jira-like shared home served by an in-process SFTP server, throwaway
PostgreSQL clusters when PostgreSQL is installed, and a Lucene index made by
real Lucene when Java and Lucene 8 are (each part is skipped with a line saying
how to enable it otherwise). Ends with the go/no-go report.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return demo.Run(cmd.Context(), demo.Options{Dir: dir, Files: files, Out: os.Stdout, Log: logOutput(), Serve: serve})
		},
	}
	c.Flags().StringVar(&dir, "dir", "./demo-out", "working directory for the demo (source, target, state, reports)")
	c.Flags().IntVar(&files, "files", 2000, "number of files in the generated shared home")
	c.Flags().BoolVar(&serve, "serve", false, "keep the demo's SFTP server and databases running afterwards, to drive its cutover.yaml by hand")
	return c
}
