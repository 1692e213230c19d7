package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cutover/cutover/internal/gentree"
	"github.com/cutover/cutover/internal/testenv"
)

// A source whose reads hang (a hung NFS mount under the shared home: tar
// or find blocks in the kernel and sends nothing, while sshd still answers
// keepalives) does not make the run deaf to Ctrl-C: the first stops it
// cleanly (exit 130, a report written) within seconds. Before, closing the
// session ended nothing (sshd closes it only once the process exits) and
// the run waited for ever.
func TestInterruptWhileTheSourceHangs(t *testing.T) {
	for _, c := range []struct{ tool, script, waitFor string }{
		{"tar", hungTar, "plan:"},
		{"find", "exec sleep 600", "listing sftp://"},
	} {
		t.Run("hung "+c.tool, func(t *testing.T) {
			args, report := hungSource(t, c.tool, c.script)
			cmd := exec.Command(bin, args...)
			stderr, _ := cmd.StderrPipe()
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			lines := bufio.NewScanner(stderr)
			for lines.Scan() && !strings.Contains(lines.Text(), c.waitFor) {
			}
			// Wait only once the pipe is read to its end: it closes the
			// pipe, and what the run wrote last could be lost (it was,
			// once, on a loaded machine).
			rest := make(chan string, 1)
			done := make(chan error, 1)
			go func() {
				var b strings.Builder
				for lines.Scan() {
					b.WriteString(lines.Text() + "\n")
				}
				rest <- b.String()
				done <- cmd.Wait()
			}()
			time.Sleep(time.Second) // the run is waiting on the hung command
			cmd.Process.Signal(syscall.SIGINT)
			select {
			case err := <-done:
				if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 130 {
					t.Fatalf("exit %v, want 130", err)
				}
			case <-time.After(20 * time.Second):
				cmd.Process.Kill()
				<-done
				t.Fatal("Ctrl-C did not stop a run whose source hangs within 20 s")
			}
			if _, err := os.Stat(report); err != nil {
				t.Fatalf("no report: %v", err)
			}
			if got := <-rest; !strings.Contains(got, "cutover: interrupted; the state is consistent") {
				t.Errorf("the run did not say it was interrupted and what next:\n%s", got)
			}
		})
	}
}

// Unattended (a rehearsal at night), a run whose source hangs stops by
// itself once nothing moved for --stall-timeout: exit 3, saying why.
func TestRunWhoseSourceHangsStopsByItself(t *testing.T) {
	args, report := hungSource(t, "tar", hungTar)
	start := time.Now()
	out, code := cutover(t, append(args, "--stall-timeout", "2s")...)
	if code != 3 || !strings.Contains(out, "nothing moved for 2s") {
		t.Fatalf("exit %d after %s, want 3 and why:\n%s", code, time.Since(start), out)
	}
	if _, err := os.Stat(report); err != nil {
		t.Fatalf("no report: %v", err)
	}
	// files verify lists and hashes both sides: a hung find stops it too.
	args, _ = hungSource(t, "find", "exec sleep 600")
	args[1] = "verify"
	os.MkdirAll(args[3], 0o755) // verify reads a target, and makes none
	if out, code = cutover(t, append(args, "--stall-timeout", "2s")...); code != 3 || !strings.Contains(out, "nothing moved for 2s") {
		t.Fatalf("files verify: exit %d, want 3 and why:\n%s", code, out)
	}
}

// hungTar answers tar's version check, then hangs as a read stuck in the
// kernel would.
const hungTar = "case \"$1\" in --version) echo 'tar (GNU tar) 1.34';; *) exec sleep 600;; esac"

// hungSource serves 600 files (enough for tar streams) from an sshd whose
// tool is the shell script given, and returns the arguments of a sync of
// them and the path of its JSON report.
func hungSource(t *testing.T, tool, script string) ([]string, string) {
	fake := t.TempDir()
	os.WriteFile(filepath.Join(fake, tool), []byte("#!/bin/sh\n"+script+"\n"), 0o755)
	s := testenv.StartSSHD(t, testenv.SSHDOptions{Extra: []string{"SetEnv PATH=" + fake + ":/usr/bin:/bin"}})
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	if _, err := gentree.Tree(src, gentree.Options{Files: 600, Seed: 12, MedianKiB: 8}); err != nil {
		t.Fatal(err)
	}
	report := filepath.Join(dir, "report.json")
	return []string{"files", "sync", s.URL("", src), filepath.Join(dir, "dst"), "--state", filepath.Join(dir, "state"),
		"--ssh-key", s.KeyFile, "--known-hosts", s.KnownHosts, "--report", report}, report
}

// When a write hangs at the target (a FUSE filesystem whose server is
// stopped here, as an NFS or EFS mount that stopped answering), the first
// Ctrl-C cannot end the writes stuck in the kernel; a second quits at once.
// Before, every Ctrl-C after the first was swallowed, and only kill -9 ended
// the run.
func TestSecondInterruptQuitsAtOnce(t *testing.T) {
	dir, src, mnt, pid := fuseTarget(t)
	cmd := exec.Command(bin, "files", "sync", src, mnt, "--state", filepath.Join(dir, "state"), "--bwlimit", "4MB")
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(stderr)
	for lines.Scan() && !strings.Contains(lines.Text(), "plan:") {
	}
	go func() {
		for lines.Scan() {
		}
	}()
	time.Sleep(500 * time.Millisecond)
	syscall.Kill(pid, syscall.SIGSTOP) // the target stops answering
	time.Sleep(500 * time.Millisecond)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer func() { syscall.Kill(pid, syscall.SIGCONT); <-done }()
	cmd.Process.Signal(syscall.SIGINT)
	if quit(cmd.Process.Pid, 3*time.Second) {
		return // it could stop cleanly after all
	}
	cmd.Process.Signal(syscall.SIGINT)
	if !quit(cmd.Process.Pid, 10*time.Second) {
		cmd.Process.Kill()
		t.Fatal("a second Ctrl-C did not quit a run whose target hangs")
	}
}

func isExit(err error, code int) bool {
	ee, ok := err.(*exec.ExitError)
	return ok && ee.ExitCode() == code
}

// quit waits up to limit for the process pid to quit: its main thread gone
// (os.Exit). Wait may not return until later: a thread whose write the
// stopped FUSE server had read before it stopped stays in the kernel, the
// process a zombie, until the server answers (SIGKILL cannot end such a
// request). Waiting for Wait there would wait for ever, with the server
// stopped, and every process on the machine that looks at all mounts (a
// JVM opening a Lucene index does) stuck behind it.
func quit(pid int, limit time.Duration) bool {
	for end := time.Now().Add(limit); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return true // reaped
		}
		// pid (comm) state ...: comm may hold spaces and parentheses.
		if f := strings.Fields(string(st[bytes.LastIndexByte(st, ')')+1:])); len(f) > 0 && f[0] == "Z" {
			return true
		}
	}
	return false
}

// Unattended, a run whose target hangs (its FUSE server stopped, as an
// EFS mount that stopped answering) stops by itself too: the writes stuck
// in the kernel are left behind once they did not end within a grace
// after the stall, exit 3; the next run, the target back, finishes the
// copy. Before, it waited for ever.
func TestRunWhoseTargetHangsStopsByItself(t *testing.T) {
	dir, src, mnt, pid := fuseTarget(t)
	args := []string{"files", "sync", src, mnt, "--state", filepath.Join(dir, "state")}
	cmd := exec.Command(bin, append(args, "--bwlimit", "4MB", "--stall-timeout", "2s", "--report", filepath.Join(dir, "r.json"))...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	syscall.Kill(pid, syscall.SIGSTOP) // the target stops answering
	stopped := time.Now()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	if !quit(cmd.Process.Pid, 30*time.Second) {
		cmd.Process.Kill()
		syscall.Kill(pid, syscall.SIGCONT)
		<-done
		t.Fatalf("a run whose target hangs did not stop by itself:\n%s", out.String())
	}
	t.Logf("exited %s after the target hung", time.Since(stopped))
	syscall.Kill(pid, syscall.SIGCONT) // then the exit status comes (see quit)
	if err := <-done; !isExit(err, 3) || !strings.Contains(out.String(), "nothing moved for 2s") {
		t.Fatalf("exit %v, want 3 and why:\n%s", err, out.String())
	}
	if o, code := cutover(t, args...); code != 0 {
		t.Fatalf("the next run, the target back: exit %d\n%s", code, o)
	}
	if d := testenv.TreeDiff(t, src, mnt, true, nil); len(d) > 0 {
		t.Fatalf("trees differ:\n%s", strings.Join(d, "\n"))
	}
}

// fuseTarget makes a source of 600 files and an empty target mounted with
// bindfs (FUSE), and returns their directory, both paths and the pid of
// the target's server, which the caller may stop (SIGSTOP) to make the
// mount hang; it is let go before the unmount.
func fuseTarget(t *testing.T) (dir, src, mnt string, pid int) {
	dir = t.TempDir()
	src, mnt = filepath.Join(dir, "src"), filepath.Join(dir, "efs")
	backing := filepath.Join(dir, "backing")
	if _, err := gentree.Tree(src, gentree.Options{Files: 600, Seed: 13, MedianKiB: 40}); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(backing, 0o755)
	os.MkdirAll(mnt, 0o755)
	testenv.BindFS(t, backing, mnt)
	// bindfs runs as a daemon: find it by its command line.
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		cmdline, err := os.ReadFile(filepath.Join("/proc", p.Name(), "cmdline"))
		args := strings.Split(string(cmdline), "\x00")
		if n, aerr := strconv.Atoi(p.Name()); err == nil && aerr == nil && strings.HasSuffix(args[0], "bindfs") && slices.Contains(args, mnt) {
			pid = n
		}
	}
	if pid == 0 {
		t.Fatalf("no bindfs process serves %s", mnt)
	}
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGCONT) })
	return dir, src, mnt, pid
}
