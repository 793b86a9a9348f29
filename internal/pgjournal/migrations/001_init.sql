-- Schema 1: a campaign's journal in PostgreSQL. Each record is the JSON
-- object a journal file has on one line, in the order it was written
-- (seq, per campaign). The campaign's secret (the key of its letters'
-- tags) is kept with it.
CREATE TABLE mailmerge.campaigns (
	id      bigserial PRIMARY KEY,
	name    text NOT NULL UNIQUE,
	secret  bytea,
	created timestamptz NOT NULL DEFAULT now(),
	closed  timestamptz
);

CREATE TABLE mailmerge.records (
	campaign bigint NOT NULL REFERENCES mailmerge.campaigns (id),
	seq      bigint NOT NULL,
	rec      jsonb NOT NULL,
	PRIMARY KEY (campaign, seq)
);
