package pgcopy

import "testing"

func TestParseDump(t *testing.T) {
	dump := `--
-- PostgreSQL database dump
--
\restrict abc123

SET statement_timeout = 0;
SELECT pg_catalog.set_config('search_path', '', false);

--
-- Name: pgbench_accounts pgbench_accounts_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.pgbench_accounts
    ADD CONSTRAINT pgbench_accounts_pkey PRIMARY KEY (aid);


--
-- Name: f(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.f() RETURNS int LANGUAGE plpgsql AS $$
BEGIN
-- a comment inside the body
\x not a meta-command inside a body
RETURN 1;
END $$;

\unrestrict abc123
`
	pre, entries, err := parseDump([]byte(dump))
	if err != nil {
		t.Fatal(err)
	}
	if pre != "SET statement_timeout = 0;\nSELECT pg_catalog.set_config('search_path', '', false);" {
		t.Errorf("preamble %q", pre)
	}
	if len(entries) != 2 || entries[0].Type != "CONSTRAINT" || entries[0].Schema != "public" {
		t.Fatalf("entries %+v", entries)
	}
	if m := addKey.FindStringSubmatch(entries[0].SQL); m == nil || m[2] != "pgbench_accounts_pkey" {
		t.Errorf("constraint SQL %q", entries[0].SQL)
	}
	if want := "CREATE FUNCTION public.f() RETURNS int LANGUAGE plpgsql AS $$\nBEGIN\n-- a comment inside the body\n\\x not a meta-command inside a body\nRETURN 1;\nEND $$;"; entries[1].SQL != want {
		t.Errorf("function SQL %q", entries[1].SQL)
	}
}
