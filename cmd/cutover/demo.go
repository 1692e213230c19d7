package main

import (
	"os"

	"github.com/spf13/cobra"

	"github.com/cutover/cutover/internal/demo"
)

func newDemoCmd() *cobra.Command {
	var dir string
	var files int
	c := &cobra.Command{
		Use:   "demo",
		Short: "Sync a generated shared home from an in-process SFTP server, change it, and sync the delta",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return demo.Run(cmd.Context(), demo.Options{Dir: dir, Files: files, Out: os.Stdout, Log: os.Stderr})
		},
	}
	c.Flags().StringVar(&dir, "dir", "./demo-out", "working directory for the demo (source, target, state, reports)")
	c.Flags().IntVar(&files, "files", 3000, "number of files in the generated shared home")
	return c
}
