/*
 * Unit tests for lib/influxql: statement splitting, classification, measurement / database / retention
 * policy extraction, paging clauses, identifier decoding and queryforbid.
 *
 * Sources of the vectors: Grafana's own queries (dashboards with $timeFilter expanded, autocomplete,
 * health checks of Grafana 7–10), the predecessor tools' tables in shared/conformance
 * (influx-proxy-vectors.md §A.1–A.3, A.5.1) adapted where SPEC or influxd 1.6 disagree (noted inline),
 * and edge cases checked against a running influxd 1.6.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "influxql.h"

static iql_t *IQL;

/* ---- classification table --------------------------------------------------------------------- */

typedef struct st_class_case_t {
    const char *q;
    iql_class_t cls;
    int kind;            /* iql_kind_t, or -1: not checked */
    const char *sources; /* decoded names joined by '|', regexes as /pattern/; "" = none */
    int err;
} class_case_t;

#define SEL(q, m)                                                                                                      \
    {                                                                                                                  \
        q, IQL_ROUTE, IQL_K_SELECT, m, 0                                                                               \
    }
#define SHOWR(q, k, m)                                                                                                 \
    {                                                                                                                  \
        q, IQL_ROUTE, k, m, 0                                                                                          \
    }
#define FAN(q, k)                                                                                                      \
    {                                                                                                                  \
        q, IQL_FANOUT, k, "", 0                                                                                        \
    }
#define BCAST(q, k)                                                                                                    \
    {                                                                                                                  \
        q, IQL_BROADCAST, k, "", 0                                                                                     \
    }
#define ANY(q)                                                                                                         \
    {                                                                                                                  \
        q, IQL_FORWARD_ANY, IQL_K_SHOW_OTHER, "", 0                                                                    \
    }
#define FORBID(q)                                                                                                      \
    {                                                                                                                  \
        q, IQL_REJECT, -1, "", IQL_EFORBIDDEN                                                                          \
    }
#define BAD(q)                                                                                                         \
    {                                                                                                                  \
        q, IQL_REJECT, -1, "", IQL_EPARSE                                                                              \
    }

static const class_case_t class_cases[] = {
    /* Grafana dashboards, relative and absolute ($timeFilter expanded to ms epochs) time ranges */
    SEL("SELECT mean(\"value\") FROM \"cpu\" WHERE time >= now() - 6h and time <= now() GROUP BY time(10s) fill(null)",
        "cpu"),
    SEL("SELECT mean(\"value\") FROM \"cpu\" WHERE time >= 1700000000000ms and time <= 1700003600000ms GROUP BY "
        "time(10s) fill(null)",
        "cpu"),
    SEL("SELECT mean(\"usage_idle\") FROM \"autogen\".\"cpu\" WHERE (\"host\" =~ /^server01$/) AND time >= now() - 1h "
        "GROUP BY time(20s), \"host\" fill(none)",
        "cpu"),
    SEL("SELECT non_negative_derivative(mean(\"bytes_recv\"), 1s) *8 FROM \"net\" WHERE (\"interface\" = 'eth0') AND "
        "$timeFilter GROUP BY time($__interval) fill(null)",
        "net"),
    SEL("SELECT last(\"value\") FROM \"telegraf\".\"autogen\".\"mem\" WHERE time >= 1700000000000ms and time <= "
        "1700003600000ms",
        "mem"),
    SEL("SELECT count(\"value\") FROM \"cpu\" WHERE time >= 1700000000000ms and time <= 1700003600000ms GROUP BY "
        "time(1m), \"host\"::tag fill(0)",
        "cpu"),
    SEL("SELECT \"value\" FROM \"cpu\" WHERE time >= 1700000000000ms and time <= 1700003600000ms ORDER BY time DESC "
        "LIMIT 100",
        "cpu"),
    SEL("SELECT mean(\"value\") FROM /^cpu$/ WHERE time >= now() - 6h GROUP BY time(10s)", "/^cpu$/"),
    SEL("SELECT mean(\"value\") FROM \"cpu\" WHERE (\"host\" =~ /^(a|b)$/) AND time >= 1700000000000ms and time <= "
        "1700003600000ms GROUP BY time(10s), \"host\" fill(linear) tz('Europe/Paris')",
        "cpu"),
    SEL("SELECT percentile(\"value\", 95) AS \"p95\" FROM \"http\" WHERE time > now() - 5m GROUP BY time(1m) "
        "fill(previous)",
        "http"),
    SEL("select mean(value) from cpu where time > 1700000000000ms - 1h group by time(5m)", "cpu"),
    /* Grafana autocomplete and health checks (7.x: SHOW RETENTION POLICIES; 9-10: SHOW measurements) */
    FAN("SHOW MEASUREMENTS WITH MEASUREMENT =~ /cpu/ LIMIT 100", IQL_K_SHOW_MEASUREMENTS),
    FAN("SHOW MEASUREMENTS WITH MEASUREMENT =~ /(?i)cpu/ LIMIT 100", IQL_K_SHOW_MEASUREMENTS),
    SHOWR("SHOW TAG KEYS FROM \"cpu\"", IQL_K_SHOW_TAG_KEYS, "cpu"),
    SHOWR("SHOW FIELD KEYS FROM \"cpu\"", IQL_K_SHOW_FIELD_KEYS, "cpu"),
    SHOWR("SHOW TAG VALUES FROM \"cpu\" WITH KEY = \"host\"", IQL_K_SHOW_TAG_VALUES, "cpu"),
    SHOWR("SHOW TAG VALUES FROM \"autogen\".\"cpu\" WITH KEY = \"host\" WHERE \"region\" = 'us'", IQL_K_SHOW_TAG_VALUES,
          "cpu"),
    SHOWR("SHOW FIELD KEYS FROM \"autogen\".\"cpu\"", IQL_K_SHOW_FIELD_KEYS, "cpu"),
    SHOWR("SHOW TAG KEYS FROM \"cpu\" WHERE \"host\" = 'a'", IQL_K_SHOW_TAG_KEYS, "cpu"),
    FAN("SHOW RETENTION POLICIES on \"telegraf\"", IQL_K_SHOW_RETENTION_POLICIES),
    FAN("SHOW measurements", IQL_K_SHOW_MEASUREMENTS),
    FAN("SHOW MEASUREMENTS LIMIT 1", IQL_K_SHOW_MEASUREMENTS),
    FAN("SHOW DATABASES", IQL_K_SHOW_DATABASES),
    FAN("show databases", IQL_K_SHOW_DATABASES),
    FAN("SHOW TAG KEYS", IQL_K_SHOW_TAG_KEYS),
    FAN("SHOW TAG VALUES WITH KEY = \"host\"", IQL_K_SHOW_TAG_VALUES),
    FAN("SHOW TAG VALUES WITH KEY IN (\"host\", \"region\") WHERE \"service\" = 'redis'", IQL_K_SHOW_TAG_VALUES),
    FAN("SHOW SERIES", IQL_K_SHOW_SERIES),
    FAN("SHOW FIELD KEYS", IQL_K_SHOW_FIELD_KEYS),
    FAN("SHOW TAG KEYS WHERE \"host\" = 'serverA'", IQL_K_SHOW_TAG_KEYS),
    FAN("SHOW TAG VALUES WITH KEY !~ /.*c.*/", IQL_K_SHOW_TAG_VALUES),
    FAN("SHOW TAG VALUES WITH KEY =~ /h;ost/", IQL_K_SHOW_TAG_VALUES),
    FAN("SHOW MEASUREMENTS WITH MEASUREMENT =~ /c;pu/", IQL_K_SHOW_MEASUREMENTS),
    FAN("SHOW MEASUREMENTS ON telegraf", IQL_K_SHOW_MEASUREMENTS),
    FAN("SHOW TAG KEYS LIMIT 1 OFFSET 2 SLIMIT 3 SOFFSET 4", IQL_K_SHOW_TAG_KEYS),
    FAN("show series limit 1 offset 1", IQL_K_SHOW_SERIES),
    FAN(" SHOW retention policies", IQL_K_SHOW_RETENTION_POLICIES),
    FAN("SHOW tag values WITH key = \"host\"", IQL_K_SHOW_TAG_VALUES),
    FAN("show series", IQL_K_SHOW_SERIES),
    /* A.1.1 / A.1.3 / A.1.4 / A.1.5 measurement extraction */
    SEL("select * from cpu", "cpu"),
    SEL("SELECT * FROM \"cpu\"", "cpu"),
    SEL("select * from \"c\\\"pu\"", "c\"pu"),
    SEL("SELECT mean(\"value\") FROM \"cpu\" WHERE \"region\" = 'uswest' GROUP BY time(10m) fill(0)", "cpu"),
    SHOWR("SHOW FIELD KEYS FROM \"cpu\"", IQL_K_SHOW_FIELD_KEYS, "cpu"),
    SHOWR("SHOW TAG KEYS FROM cpu", IQL_K_SHOW_TAG_KEYS, "cpu"),
    SHOWR("SHOW TAG KEYS FROM \"cpu\" WHERE \"region\" = 'uswest'", IQL_K_SHOW_TAG_KEYS, "cpu"),
    SHOWR("SHOW TAG VALUES FROM \"cpu\" WITH KEY = \"region\"", IQL_K_SHOW_TAG_VALUES, "cpu"),
    SHOWR("SHOW TAG VALUES FROM \"cpu\" WITH KEY IN (\"region\", \"host\") WHERE \"service\" = 'redis'",
          IQL_K_SHOW_TAG_VALUES, "cpu"),
    SHOWR("SHOW FIELD KEYS FROM \"1h\".\"cpu\"", IQL_K_SHOW_FIELD_KEYS, "cpu"),
    SHOWR("SHOW FIELD KEYS FROM \"cpu.load\"", IQL_K_SHOW_FIELD_KEYS, "cpu.load"),
    SHOWR("SHOW FIELD KEYS FROM \"1h\".\"cpu.load\"", IQL_K_SHOW_FIELD_KEYS, "cpu.load"),
    SHOWR("SHOW FIELD KEYS FROM one_hour.cpu", IQL_K_SHOW_FIELD_KEYS, "cpu"),
    SHOWR("SHOW FIELD KEYS FROM one_hour.\"cpu.load\"", IQL_K_SHOW_FIELD_KEYS, "cpu.load"),
    SHOWR("SHOW SERIES FROM \"telegraf\".\"autogen\".\"cpu\" WHERE cpu = 'cpu8'", IQL_K_SHOW_SERIES, "cpu"),
    SHOWR("SHOW SERIES FROM \"cpu\" WHERE cpu = 'cpu8'", IQL_K_SHOW_SERIES, "cpu"),
    SHOWR("SHOW SERIES FROM \"telegraf\"..\"cp.u\" WHERE cpu = 'cpu8'", IQL_K_SHOW_SERIES, "cp.u"),
    SHOWR("SHOW SERIES FROM \"telegraf\".\"autogen\".\"cp.u\" WHERE cpu = 'cpu8'", IQL_K_SHOW_SERIES, "cp.u"),
    SHOWR("SHOW TAG KEYS FROM cpu WHERE \"host\" = 'serverA'", IQL_K_SHOW_TAG_KEYS, "cpu"),
    SHOWR("SHOW TAG VALUES FROM cpu WITH KEY = \"region\"", IQL_K_SHOW_TAG_VALUES, "cpu"),
    SHOWR("SHOW TAG VALUES FROM \"1h\".\"cpu\" WITH KEY = \"region\"", IQL_K_SHOW_TAG_VALUES, "cpu"),
    SHOWR("SHOW TAG VALUES FROM cpu WITH KEY !~ /.*c.*/", IQL_K_SHOW_TAG_VALUES, "cpu"),
    SHOWR("SHOW tag keys from \"cpu\" ", IQL_K_SHOW_TAG_KEYS, "cpu"),
    SHOWR("SHOW field KEYS from \"cpu\" ", IQL_K_SHOW_FIELD_KEYS, "cpu"),
    /* A.3.5: an ON clause is allowed here (SPEC routes by the measurement) */
    SHOWR("show TAG keys on test from cpu", IQL_K_SHOW_TAG_KEYS, "cpu"),
    SEL("select * from \"c.pu\"", "c.pu"),
    SEL("select * from \"c,pu\"", "c,pu"),
    SEL("select * from \"c pu\"", "c pu"),
    SEL("select * from autogen.cpu", "cpu"),
    SEL("select * from db..cpu", "cpu"),
    SEL("select * from db.autogen.cpu", "cpu"),
    SEL("select * from db.\"auto.gen\".cpu", "cpu"),
    SEL("select * from test1.autogen.\"c\\\"pu.load\"", "c\"pu.load"),
    SEL("select * from test1.\"auto.gen\".\"c\\\"pu.load\"", "c\"pu.load"),
    SEL("select * from db.\"auto.gen\".\"cpu.load\"", "cpu.load"),
    SEL("select * from \"db\".\"autogen\".\"cpu.load\"", "cpu.load"),
    SEL("select * from \"d.b\".\"auto.gen\".\"cpu.load\"", "cpu.load"),
    SEL("select * from \"db\"..\"cpu.load\"", "cpu.load"),
    SEL("select * from \"d.b\"..\"cpu.load\"", "cpu.load"),
    SEL("select * from \"db\".autogen.cpu", "cpu"),
    SEL("select * from \"db\".\"auto.gen\".cpu", "cpu"),
    SEL("select * from \"d.b\"..cpu", "cpu"),
    SEL("select time, \"D:\\\\work\\\\run\\\\log\" from host1 order by desc limit 1", "host1"),
    SEL("select \"time\", \"D:\\\\work\\\\run\\\\log\" from \"host1\" order by desc limit 1", "host1"),
    SEL("select time, \"/var/tmp\", \"D:\\\\work\\\\run\\\\log\" from host1 order by desc limit 1", "host1"),
    SEL("select * from \"measurement with spaces, commas and 'quotes'\"",
        "measurement with spaces, commas and 'quotes'"),
    SEL("select * from \"'measurement with spaces, commas and 'quotes''\"",
        "'measurement with spaces, commas and 'quotes''"),
    SEL("select * from autogen.\"measurement with spaces, commas and 'quotes'\"",
        "measurement with spaces, commas and 'quotes'"),
    SEL("select * from \"auto\\\"gen\".\"'measurement with spaces, commas and 'quotes''\"",
        "'measurement with spaces, commas and 'quotes''"),
    SEL("select * from db1..\"measurement with spaces, commas and 'quotes'\"",
        "measurement with spaces, commas and 'quotes'"),
    SEL("select * from \"db\\\"1\".\"auto\\\"gen\".\"'measurement with spaces, commas and 'quotes''\"",
        "'measurement with spaces, commas and 'quotes''"),
    SEL("select * from \"measurement with spaces, commas and \\\"quotes\\\"\"",
        "measurement with spaces, commas and \"quotes\""),
    SEL("select * from \"\\\"measurement with spaces, commas and \\\"quotes\\\"\\\"\"",
        "\"measurement with spaces, commas and \"quotes\"\""),
    SEL("select * from db2..\"measurement with spaces, commas and \\\"quotes\\\"\"",
        "measurement with spaces, commas and \"quotes\""),
    SEL("select \"time\",\"metadata.share thoughts / metadata.share days.\" FROM \"h2o_feet\"", "h2o_feet"),
    SEL("select time ,\"metadata.share thoughts / metadata.share days.\" FROM \"h2o_feet\"", "h2o_feet"),
    SEL("select DISTINCT(\"level description\"),INTEGRAL(\"water_level\",1m) FROM \"h2o_feet\"", "h2o_feet"),
    SEL("SELECT BOTTOM(\"water_level\",4),\"location\",\"level description\" FROM \"h2o_feet\"", "h2o_feet"),
    SEL("SELECT PERCENTILE(\"water_level\",5),\"location\",\"level description\" FROM \"h2o_feet\"", "h2o_feet"),
    SEL("SELECT ATAN2(MEAN(\"altitude_ft\"), MEAN(\"distance_ft\")) FROM \"h2o_feet\"", "h2o_feet"),
    SEL("SELECT ELAPSED(/level/,1s) FROM \"h2o_feet\"", "h2o_feet"),
    SEL("SELECT LOG(MEAN(\"water_level\"), 4) FROM \"h2o_feet\"", "h2o_feet"),
    SEL("SELECT MOVING_AVERAGE(MAX(\"water_level\"),2) FROM \"h2o_feet\"", "h2o_feet"),
    SEL("SELECT \"water_level\"::float FROM \"h2o_feet\" LIMIT 4", "h2o_feet"),
    SEL("SELECT \"water_level\"::integer,\"water_level\"::string FROM \"h2o_feet\" LIMIT 4", "h2o_feet"),
    SEL("SELECT /<regular_expression_field_key>/ FROM \"h2o_feet\"", "h2o_feet"),
    SEL("SELECT \"A\"+\"B\" FROM \"h2o_feet\"", "h2o_feet"),
    SEL("SELECT \"A\"/\"B\" FROM \"h2o_feet\"", "h2o_feet"),
    SEL("SELECT \"A\"%\"B\" FROM \"h2o_feet\"", "h2o_feet"),
    SEL("SELECT \"A\"&\"B\" FROM \"h2o_feet\"", "h2o_feet"),
    SEL("SELECT \"A\"|\"B\" FROM \"h2o_feet\"", "h2o_feet"),
    SEL("SELECT \"A\"^\"B\" FROM \"h2o_feet\"", "h2o_feet"),
    SEL("SELECT 100-\"B\" FROM \"h2o_feet\"", "h2o_feet"),
    SEL("SELECT \"B\"%2 FROM \"h2o_feet\"", "h2o_feet"),
    SEL("SELECT 10 * (\"A\" - \"B\" - \"C\") FROM \"h2o_feet\"", "h2o_feet"),
    /* influxd rejects `*` followed by `/`; the division is still recognised and the backend reports it */
    SEL("SELECT 10*/(\"A\"+\"B\"+\"C\") FROM \"h2o_feet\"", "h2o_feet"),
    SEL("SELECT (\"A\" ^ true) & \"B\" FROM \"h2o_feet\"", "h2o_feet"),
    SEL("select * from select_sth", "select_sth"),
    SEL("select * from \"select sth\"", "select sth"),
    SEL("select * from db..select_sth", "select_sth"),
    SEL("select * from db.rp.\"select sth\"", "select sth"),
    SEL("select * from \"select * from sth\"", "select * from sth"),
    SEL("select * from \"(SELECT * FROM sth)\"", "(SELECT * FROM sth)"),
    SEL("select * from db.rp.\"(SELECT * FROM sth)\"", "(SELECT * FROM sth)"),
    /* sub-queries */
    SEL("SELECT SUM(\"max\") FROM (SELECT MAX(\"water_level\") FROM \"h2o_feet\" GROUP BY \"location\")", "h2o_feet"),
    SEL("SELECT MEAN(\"difference\") FROM ( SELECT \"cats\" - \"dogs\" AS \"difference\" FROM \"pet_daycare\" )",
        "pet_daycare"),
    SEL("SELECT \"all_the_means\" FROM (SELECT MEAN(\"water_level\") AS \"all_the_means\" FROM \"h2o_feet\" WHERE "
        "time >= '2015-08-18T00:00:00Z' AND time <= '2015-08-18T00:30:00Z' GROUP BY time(12m) ) WHERE "
        "\"all_the_means\" > 5",
        "h2o_feet"),
    SEL("SELECT SUM(\"water_level_derivative\") AS \"sum_derivative\" FROM (SELECT DERIVATIVE(MEAN(\"water_level\")) "
        "AS \"water_level_derivative\" FROM \"h2o_feet\" WHERE time >= '2015-08-18T00:00:00Z' AND time <= "
        "'2015-08-18T00:30:00Z' GROUP BY time(12m),\"location\") GROUP BY \"location\"",
        "h2o_feet"),
    SEL("SELECT SUM(\"max\") FROM ( SELECT MAX(\"water_level\") FROM ( SELECT \"water_total\" / \"water_unit\" AS "
        "\"water_level\" FROM \"pet_daycare\" ) GROUP BY \"location\" )",
        "pet_daycare"),
    SEL("select mean(kpi_3),max(kpi_3) FRoM (select kpi_1+kpi_2 as kpi_3 from cpu where time < 1620877962) where "
        "time < 1620877962 group by time(1m),app",
        "cpu"),
    SEL("SELECT SUM(\"max\") FROM (SELECT MAX(\"water_level\") FROM test1.autogen.\"h2o_feet\" GROUP BY "
        "\"location\")",
        "h2o_feet"),
    SEL("select mean(kpi_3) from (select kpi_1+kpi_2 as kpi_3 from \"d.b\"..cpu where time < 1620877962) where time "
        "< 1620877962 group by time(1m),app",
        "cpu"),
    SEL("SELECT value FROM (SELECT value FROM cpu), mem", "cpu|mem"),
    SEL("SELECT value FROM (SELECT value FROM cpu, /m;em/) WHERE time > now() - 1h", "cpu|/m;em/"),
    SEL("SELECT max(v) FROM (SELECT mean(value) AS v FROM (SELECT value FROM (SELECT value FROM \"deep\")))", "deep"),
    SEL("SELECT value FROM (SELECT value FROM cpu WHERE (host = 'a' OR host = 'b')) WHERE time > now() - 1h", "cpu"),
    /* influxd 1.6 rejects an alias after a sub-query (A.1.4 expected cpu) */
    BAD("select mean(kpi_3) from (select kpi_1+kpi_2 as kpi_3 from cpu where time < 1620877962) as measure2 where "
        "time < 1620877962 group by time(1m),app"),
    BAD("SELECT * FROM (SHOW MEASUREMENTS)"),
    BAD("SELECT * FROM (SELECT * FROM cpu"),
    BAD("SELECT * FROM (SELECT * FROM cpu))"),
    BAD("SELECT * FROM ()"),
    /* 9 nested sub-queries: one more than IQL_MAX_DEPTH */
    {"SELECT * FROM (SELECT * FROM (SELECT * FROM (SELECT * FROM (SELECT * FROM (SELECT * FROM (SELECT * FROM "
     "(SELECT * FROM (SELECT * FROM (SELECT * FROM cpu)))))))))",
     IQL_REJECT, -1, "", IQL_ELIMIT},
    SEL("SELECT * FROM (SELECT * FROM (SELECT * FROM (SELECT * FROM (SELECT * FROM (SELECT * FROM (SELECT * FROM "
        "(SELECT * FROM (SELECT * FROM cpu))))))))",
        "cpu"),
    /* several measurements (the caller checks they share one backend set) */
    SEL("SELECT mean(value) FROM cpu, mem WHERE time > now() - 1h", "cpu|mem"),
    SEL("SELECT mean(value) FROM cpu,mem WHERE time > now() - 1h", "cpu|mem"),
    SEL("SELECT value FROM cpu, \"b\", /c.*/", "cpu|b|/c.*/"),
    SEL("select value from db1..cpu, \"db1\".\"autogen\"./m.m/", "cpu|/m.m/"),
    SEL("SELECT value FROM db.rp.cpu WHERE time > now() - 1h", "cpu"),
    SEL("SELECT value FROM \"db\".\"rp\".\"cpu\" WHERE time > now() - 1h", "cpu"),
    SEL("SELECT value FROM db..cpu WHERE time > now() - 1h", "cpu"),
    SEL("SELECT * FROM cpu WHERE time > now() - 1h GROUP BY *", "cpu"),
    SEL("select value from cpu where TIME > now() - 1h", "cpu"),
    SEL("SELECT \"value\" FROM \"c\\\"pu\" WHERE time > now() - 1m", "c\"pu"),
    SEL("SELECT value FROM cpu limit 1 offset 1 slimit 1 soffset 1", "cpu"),
    SEL("SELECT value FROM cpu fill(0)", "cpu"),
    SEL(" select cpu_load from \"cpu.load\" WHERE time > now() - 1m and host =~ /()$/", "cpu.load"),
    SEL(" select cpu_load from \"cpu.load\" WHERE time > now() - 1m and host =~ /^()$/", "cpu.load"),
    SEL(" select cpu_load from \"cpu.load\" WHERE host =~ /^$/", "cpu.load"),
    SEL("SELECT cpu_load from test WHERE time > now() - 1m", "test"),
    SEL(" select cpu_load from write_only", "write_only"),
    /* quoting and escaping */
    SEL("select * from \"c\\\\pu\"", "c\\pu"),
    SEL("select * from \"c\\'pu\"", "c'pu"),
    SEL("select * from \"c\\npu\"", "c\npu"),
    SEL("select * from \"cpu;x\"", "cpu;x"),
    SEL("select * from \"c--pu\"", "c--pu"),
    SEL("select * from \"c/*pu*/\"", "c/*pu*/"),
    SEL("select * from \"select\"", "select"),
    BAD("select * from \"\"\""),
    SEL("SELECT value FROM cpu WHERE host = 'a\\'b;'", "cpu"),
    SEL("SELECT value FROM cpu WHERE host = 'a\"b'", "cpu"),
    SEL("SELECT \"val\\\"ue\" FROM cpu", "cpu"),
    SEL("SELECT \"va;lue\", 'x;y' FROM cpu", "cpu"),
    SEL("SELECT value FROM _cpu_2", "_cpu_2"),
    BAD("select * from 'cpu'"), /* influxd: a string is not an identifier (A.1.1 expected cpu) */
    BAD("select * from \"c\\pu\""),
    BAD("select * from \"cpu"),
    BAD("select * from \"cp\nu\""),
    BAD("SELECT value FROM cpu WHERE host = 'a\\qb'"),
    BAD("SELECT value FROM cpu WHERE host = 'a"),
    BAD("SELECT value FROM cpu WHERE host = 'a\nb'"),
    BAD("SELECT value FROM cpu\xc3\xbc"),
    BAD("SELECT value FROM c\xc3\xbcpu"),
    /* qualified names that influxd rejects */
    BAD("SHOW FIELD KEYS FROM 1h.cpu"), /* `1h` is a duration to influxd (A.1.1 expected cpu) */
    BAD("SHOW FIELD KEYS FROM 1h.\"cpu.load\""),
    BAD("select * from db.rp.m.x"),
    BAD("select * from db. cpu"),
    BAD("select * from db . rp . cpu"),
    BAD("select * from db.."),
    BAD("select * from db."),
    BAD("select * from \"d.b\"."),
    BAD("select * from a...b"),
    BAD("select * from db.rp.."),
    /* regexes */
    SEL("SELECT value FROM /cpu.*/", "/cpu.*/"),
    SEL("SELECT value FROM /cpu.*/ WHERE time > now() - 1h", "/cpu.*/"),
    SEL("SELECT value FROM /c\\/pu/", "/c/pu/"),
    SEL("SELECT value FROM /c\\\\/;x/", "/c\\/;x/"),
    SEL("SELECT value FROM db1.autogen./c.u/", "/c.u/"),
    SEL("SELECT value FROM db1../c.u/", "/c.u/"),
    SEL("SELECT value FROM cpu WHERE host =~ /a;b/", "cpu"),
    SEL("SELECT value FROM cpu WHERE host !~ /a;b/", "cpu"),
    SEL("SELECT value FROM cpu WHERE host =~ /a'b/", "cpu"),
    SEL("SELECT value FROM cpu WHERE host =~ /a\"b/", "cpu"),
    SEL("SELECT value FROM cpu WHERE host =~ /a--b/", "cpu"),
    SEL("SELECT value FROM cpu GROUP BY /ho;st/", "cpu"),
    SEL("SELECT /val;ue/ FROM cpu", "cpu"),
    SEL("SELECT mean(/x;y/) FROM cpu", "cpu"),
    SEL("SELECT value FROM cpu, /m;em/", "cpu|/m;em/"),
    SEL("SELECT value / 2 FROM cpu", "cpu"),
    SEL("SELECT value /2/ 1 FROM cpu", "cpu"),
    SEL("SELECT value FROM /from/", "/from/"),
    SHOWR("SHOW SERIES FROM /c;pu/", IQL_K_SHOW_SERIES, "/c;pu/"),
    SHOWR("SHOW TAG KEYS FROM /cpu.*/, mem", IQL_K_SHOW_TAG_KEYS, "/cpu.*/|mem"),
    BAD("SELECT value FROM cpu WHERE host =~ /unterminated"),
    BAD("SELECT value FROM /cpu"),
    BAD("SELECT value FROM db./c/.cpu"),
    /* comments */
    SEL("SELECT value FROM cpu -- ; hi", "cpu"),
    SEL("/* c */ SELECT value FROM cpu", "cpu"),
    SEL("-- leading\nSELECT value FROM cpu", "cpu"),
    SEL("SELECT value /* ; */ FROM cpu", "cpu"),
    SEL("SELECT --x\nvalue FROM cpu", "cpu"),
    SEL("SELECT value FROM cpu/* x */", "cpu"),
    SEL("SELECT value FROM cpu WHERE a = 1 /* ; DROP DATABASE x */", "cpu"),
    /* as in influxd, a slash right after SELECT opens a regex, even before a star (influxd then fails on it) */
    SEL("SELECT /* c */ value FROM cpu", "cpu"),
    BAD("SELECT value FROM cpu WHERE a = 1 /* unterminated"),
    BAD("-- only a comment"),
    BAD("/* only a comment */"),
    BAD(""),
    BAD("   \n\t "),
    /* forbidden statements: every form */
    FORBID("DELETE FROM \"cpu\""),
    FORBID("DELETE FROM \"cpu\" WHERE time < '2000-01-01T00:00:00Z'"),
    FORBID(" DELETE FROM \"cpu\" WHERE time < '2000-01-01T00:00:00Z'"),
    FORBID("delete from cpu"),
    FORBID("delete from "),
    FORBID("DELETE WHERE time < '2000-01-01T00:00:00Z'"),
    FORBID("DROP MEASUREMENT cpu"),
    FORBID("DROP MEASUREMENT \"cpu\""),
    FORBID("DROP measurement \"cpu.load\""),
    FORBID("drop measurement"),
    FORBID("DROP SERIES FROM \"cpu\" WHERE cpu = 'cpu8'"),
    FORBID("DROP SERIES FROM \"telegraf\"..\"cp u\" WHERE cpu = 'cpu8'"),
    FORBID("DROP SERIES FROM \"telegraf\".\"autogen\".\"cpu\" WHERE cpu = 'cpu8'"),
    FORBID("DROP series from \"cpu.load\""),
    FORBID("drop series"),
    FORBID("drop series from"),
    FORBID("drop"),
    FORBID("DROP DATABASE \"mydb\""),
    FORBID("drop database "),
    FORBID("DROP RETENTION POLICY \"1h.cpu\" ON \"mydb\""),
    FORBID("DROP CONTINUOUS QUERY \"myquery\" ON \"mydb\""),
    FORBID("DROP SUBSCRIPTION \"sub0\" ON \"mydb\".\"autogen\""),
    FORBID("DROP USER \"jdoe\""),
    FORBID("DROP SHARD 1"),
    FORBID("  DrOp MEASUREMENT cpu"),
    FORBID("/* hidden */ DROP MEASUREMENT cpu"),
    FORBID("GRANT READ ON \"mydb\" TO \"jdoe\""),
    FORBID("GRANT ALL TO jdoe"),
    FORBID("GRANT ALL PRIVILEGES TO \"jdoe\""),
    FORBID("REVOKE ALL PRIVILEGES FROM \"jdoe\""),
    FORBID("REVOKE READ ON \"mydb\" FROM \"jdoe\""),
    FORBID("ALTER RETENTION POLICY \"1h.cpu\" ON \"mydb\" DEFAULT"),
    FORBID("ALTER RETENTION POLICY \"policy1\" ON \"somedb\" DURATION 1h REPLICATION 4"),
    FORBID("CREATE USER \"jdoe\" WITH PASSWORD 'x'"),
    FORBID("CREATE USER admin WITH PASSWORD 'x' WITH ALL PRIVILEGES"),
    FORBID("CREATE CONTINUOUS QUERY cq ON db BEGIN SELECT mean(v) INTO m2 FROM m GROUP BY time(1h) END"),
    FORBID("CREATE SUBSCRIPTION \"sub0\" ON \"mydb\".\"autogen\" DESTINATIONS ALL 'udp://example.com:9090'"),
    FORBID("CREATE SUBSCRIPTION \"sub0\" ON mydb.autogen DESTINATIONS ALL 'udp://example.com:9090'"),
    FORBID("SET PASSWORD FOR \"jdoe\" = 'x'"),
    FORBID("KILL QUERY 36"),
    FORBID("KILL QUERY 36 ON \"host:8086\""),
    FORBID("select * into \"cpu.load_new\" from \"cpu.load\""),
    FORBID("select * into \"cpu.load_new\" from \"cpu.load\" GROUP BY *"),
    FORBID("SELECT mean(\"value\") INTO \"cpu\\\"_1h\".:MEASUREMENT FROM /cpu.*/"),
    FORBID("SELECT value INTO mem FROM cpu WHERE time > now() - 1h"),
    FORBID("SELECT * FROM cpu INTO memory"),
    FORBID("SELECT * FROM (SELECT * INTO x FROM cpu)"),
    FORBID("SELECT * FROM (SELECT * FROM cpu) INTO x"),
    FORBID("select * InTo x from cpu"),
    FORBID("EXPLAIN SELECT value INTO x FROM cpu"),
    FORBID("SHOW MEASUREMENT CARDINALITY"),
    FORBID("SHOW MEASUREMENT EXACT CARDINALITY ON mydb"),
    FORBID("SHOW SERIES CARDINALITY ON mydb"),
    FORBID("SHOW SERIES EXACT CARDINALITY ON mydb"),
    FORBID("SHOW FIELD KEY EXACT CARDINALITY ON mydb"),
    FORBID("SHOW TAG VALUES CARDINALITY WITH KEY = \"host\""),
    FORBID("SHOW TAG KEY CARDINALITY"),
    SHOWR("SHOW FIELD KEY CARDINALITY FROM cpu", IQL_K_SHOW_CARDINALITY, "cpu"),
    SHOWR("SHOW TAG KEY EXACT CARDINALITY FROM \"cpu\"", IQL_K_SHOW_CARDINALITY, "cpu"),
    SHOWR("SHOW SERIES CARDINALITY ON db FROM cpu WHERE host = 'a'", IQL_K_SHOW_CARDINALITY, "cpu"),
    /* unparsable */
    BAD("select * from"),
    BAD("select * measurement"),
    BAD("show TAG from cpu"),
    BAD("show TAG values from "),
    BAD("show series from"),
    BAD("show measurement"),
    BAD("show stat"),
    BAD("CREATE DATABASE"),
    BAD("show TAG keys test from mem"),
    BAD("(select *) from cpu"),
    BAD("[select *] from cpu"),
    BAD("{select *} from cpu"),
    BAD("SELECT value FROM cpu;"),
    BAD("SELECT value FROM cpu)"),
    BAD("SELECT value FROM cpu, "),
    BAD("SELECT value FROM cpu AS c"),
    BAD("SELECT value"),
    BAD("SELECT (value FROM cpu"),
    BAD("FOO BAR"),
    BAD("SHOW"),
    BAD("EXPLAIN DROP MEASUREMENT cpu"),
    BAD("SHOW DATABASES LIMIT 1"),
    BAD("SHOW RETENTION POLICIES ON db OFFSET 1"),
    BAD("SHOW MEASUREMENTS LIMIT 1 OFFSET 1 SLIMIT 1"),
    BAD("SHOW MEASUREMENTS OFFSET 1 LIMIT 1"),
    BAD("SHOW MEASUREMENTS LIMIT 1 LIMIT 2"),
    BAD("SHOW MEASUREMENTS LIMIT -1"),
    BAD("SHOW MEASUREMENTS LIMIT"),
    BAD("SHOW MEASUREMENTS LIMIT 99999999999999999999"),
    BAD("SHOW MEASUREMENTS LIMIT x"),
    BAD("SHOW TAG KEYS LIMIT 1 WHERE host = 'x'"),
    BAD("SHOW TAG VALUES WITH KEY = \"host\" LIMIT 1 SLIMIT 1"),
    BAD("SHOW SERIES LIMIT 1 SLIMIT 1"),
    BAD("SHOW MEASUREMENTS ON"),
    BAD("SHOW MEASUREMENTS ON 'db'"),
    BAD("SHOW TAG KEYS FROM (SELECT * FROM cpu)"),
    BAD("SELECT value FROM cpu WHERE x = 'it''s'x'"),
    /* broadcast */
    BCAST("CREATE DATABASE \"foo\"", IQL_K_CREATE_DATABASE),
    BCAST("CREATE DATABASE \"bar\" WITH DURATION 1d REPLICATION 1 SHARD DURATION 30m NAME \"myrp\"",
          IQL_K_CREATE_DATABASE),
    BCAST("CREATE DATABASE \"mydb\" WITH NAME \"myrp\"", IQL_K_CREATE_DATABASE),
    BCAST("CREATE DATABASE foo", IQL_K_CREATE_DATABASE),
    BCAST("create database \"f.oo\"", IQL_K_CREATE_DATABASE),
    BCAST("CREATE DATABASE \"f\\\"oo\"", IQL_K_CREATE_DATABASE),
    BCAST("CREATE RETENTION POLICY \"10m.events\" ON \"somedb\" DURATION 60m REPLICATION 2 SHARD DURATION 30m",
          IQL_K_CREATE_RETENTION_POLICY),
    BCAST("CREATE RETENTION POLICY rp ON db DURATION 1d REPLICATION 1 DEFAULT", IQL_K_CREATE_RETENTION_POLICY),
    BAD("CREATE DATABASE foo bar"),
    BAD("CREATE DATABASE 'foo'"),
    BAD("CREATE RETENTION POLICY rp DURATION 1d REPLICATION 1"),
    BAD("CREATE RETENTION POLICY rp ON"),
    BAD("CREATE"),
    /* forward to any backend */
    ANY("SHOW CONTINUOUS QUERIES"),
    ANY("SHOW DIAGNOSTICS"),
    ANY("SHOW STATS"),
    ANY("SHOW STATS FOR 'indexes'"),
    ANY("SHOW USERS"),
    ANY("show users"),
    ANY("SHOW GRANTS FOR \"jdoe\""),
    ANY("SHOW SHARDS"),
    ANY("SHOW SHARD GROUPS"),
    ANY("SHOW QUERIES"),
    ANY("SHOW SUBSCRIPTIONS"),
    /* EXPLAIN */
    {"EXPLAIN SELECT value FROM cpu", IQL_ROUTE, IQL_K_EXPLAIN, "cpu", 0},
    {"EXPLAIN ANALYZE SELECT mean(value) FROM cpu WHERE time > now() - 1h", IQL_ROUTE, IQL_K_EXPLAIN, "cpu", 0},
};

static void render_sources(const iql_stmt_t *st, char *buf, size_t cap)
{
    size_t n = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < st->nsources; i++) {
        char name[256];
        int len = iql_ident_copy(&st->sources[i].name, name, sizeof(name));
        if (len < 0)
            snprintf(name, sizeof(name), "<undecodable>");
        int is_re = st->sources[i].name.kind == IQL_ID_REGEX;
        n += (size_t)snprintf(buf + n, cap - n, "%s%s%s%s", i > 0 ? "|" : "", is_re ? "/" : "", name, is_re ? "/" : "");
        if (n >= cap)
            return;
    }
}

static void test_classify_table(void **state)
{
    (void)state;
    size_t failures = 0, count = sizeof(class_cases) / sizeof(class_cases[0]);
    for (size_t i = 0; i < count; i++) {
        const class_case_t *c = &class_cases[i];
        iql_stmt_t st;
        char err[512] = "", got[1024];
        int rc = iql_classify(IQL, c->q, strlen(c->q), &st, err, sizeof(err));
        render_sources(&st, got, sizeof(got));
        int ok = st.cls == c->cls && rc == c->err && st.err == c->err && (c->kind < 0 || (int)st.kind == c->kind) &&
                 strcmp(got, c->sources) == 0;
        if (c->cls == IQL_REJECT) /* a rejection always explains itself and names the statement */
            ok = ok && strstr(err, "statement") != NULL && strlen(err) > 20;
        else
            ok = ok && err[0] == '\0';
        if (!ok) {
            print_error("case %zu: %s\n  got cls=%s kind=%d rc=%d sources=[%s] err=%s\n  want cls=%s kind=%d rc=%d "
                        "sources=[%s]\n",
                        i, c->q, iql_class_name(st.cls), st.kind, rc, got, err, iql_class_name(c->cls), c->kind, c->err,
                        c->sources);
            failures++;
        }
    }
    print_message("%zu classification cases, %zu failed\n", count, failures);
    assert_true(count >= 200);
    assert_int_equal(failures, 0);
}

/* ---- splitting -------------------------------------------------------------------------------- */

typedef struct st_split_case_t {
    const char *q;
    int n;
    const char *stmts[4];
} split_case_t;

static const split_case_t split_cases[] = {
    {"SELECT a FROM b; SELECT c FROM d", 2, {"SELECT a FROM b", "SELECT c FROM d"}},
    {"SELECT value FROM cpu;", 1, {"SELECT value FROM cpu"}},
    {";SELECT * FROM cpu INTO memory;", 1, {"SELECT * FROM cpu INTO memory"}},
    {"SHOW MEASUREMENTS;;;", 1, {"SHOW MEASUREMENTS"}},
    {";", 0, {NULL}},
    {"", 0, {NULL}},
    {" \n\t", 0, {NULL}},
    {"-- only", 0, {NULL}},
    {"/* a */ ; /* b */", 0, {NULL}},
    {"SELECT value FROM cpu -- x\n; SELECT value FROM mem", 2, {"SELECT value FROM cpu", "SELECT value FROM mem"}},
    {"SELECT value FROM cpu -- ; DROP DATABASE x", 1, {"SELECT value FROM cpu"}},
    /* a lone CR ends a line comment too, as in influxd's reader */
    {"-- c\rSHOW DATABASES", 1, {"SHOW DATABASES"}},
    {"SHOW DATABASES -- c\r; SHOW MEASUREMENTS", 2, {"SHOW DATABASES", "SHOW MEASUREMENTS"}},
    {"SHOW DATABASES -- c\r\n; SHOW MEASUREMENTS", 2, {"SHOW DATABASES", "SHOW MEASUREMENTS"}},
    {"SHOW DATABASES; /* x ; */ SHOW DATABASES", 2, {"SHOW DATABASES", "SHOW DATABASES"}},
    {"SELECT value FROM \"c;pu\"; SHOW DATABASES", 2, {"SELECT value FROM \"c;pu\"", "SHOW DATABASES"}},
    {"SELECT value FROM cpu WHERE host='a;b'", 1, {"SELECT value FROM cpu WHERE host='a;b'"}},
    {"SELECT value FROM cpu WHERE host='a\\';b'; SELECT 1 FROM m",
     2,
     {"SELECT value FROM cpu WHERE host='a\\';b'", "SELECT 1 FROM m"}},
    {"SELECT value FROM cpu WHERE host =~ /a;/ ; SHOW USERS",
     2,
     {"SELECT value FROM cpu WHERE host =~ /a;/", "SHOW USERS"}},
    {"SELECT value FROM /c\\\\/;x/", 1, {"SELECT value FROM /c\\\\/;x/"}},
    {"SELECT value FROM /c\\/;x/; SHOW USERS", 2, {"SELECT value FROM /c\\/;x/", "SHOW USERS"}},
    {"SELECT value FROM cpu GROUP BY /ho;st/", 1, {"SELECT value FROM cpu GROUP BY /ho;st/"}},
    {"SELECT value / 2 FROM cpu; SELECT value / 3 FROM mem",
     2,
     {"SELECT value / 2 FROM cpu", "SELECT value / 3 FROM mem"}},
    {"SELECT \"a;b\" FROM \"c\\\";d\"; X", 2, {"SELECT \"a;b\" FROM \"c\\\";d\"", "X"}},
    {"  /* lead */ SHOW DATABASES /* trail */ ; ", 1, {"SHOW DATABASES"}},
    {"SELECT 'unterminated; SELECT 2", 1, {"SELECT 'unterminated; SELECT 2"}},
    {"SELECT 1 FROM m /* unterminated ; x", 1, {"SELECT 1 FROM m /* unterminated ; x"}},
    {"SELECT value FROM cpu WHERE host =~ /unterminated; SHOW USERS",
     1,
     {"SELECT value FROM cpu WHERE host =~ /unterminated; SHOW USERS"}},
    {"a;b;c;d", 4, {"a", "b", "c", "d"}},
};

static void test_split_table(void **state)
{
    (void)state;
    size_t failures = 0, count = sizeof(split_cases) / sizeof(split_cases[0]);
    for (size_t i = 0; i < count; i++) {
        const split_case_t *c = &split_cases[i];
        iql_slice_t out[8];
        char err[128] = "";
        int n = iql_split(c->q, strlen(c->q), out, 8, err, sizeof(err));
        int ok = n == c->n;
        for (int j = 0; ok && j < n; j++)
            ok = out[j].len == strlen(c->stmts[j]) && memcmp(out[j].ptr, c->stmts[j], out[j].len) == 0;
        if (!ok) {
            print_error("split case %zu: %s: got %d statements\n", i, c->q, n);
            for (int j = 0; j < n && j < 8; j++)
                print_error("  [%d] %.*s\n", j, (int)out[j].len, out[j].ptr);
            failures++;
        }
    }
    assert_int_equal(failures, 0);
}

static void test_split_cap(void **state)
{
    (void)state;
    iql_slice_t out[2];
    char err[128] = "";
    const char *q = "SHOW USERS; SHOW USERS; SHOW USERS";
    assert_int_equal(iql_split(q, strlen(q), out, 2, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "too many statements"));
    assert_int_equal(iql_split(q, strlen(q), out, 3 > 2 ? 2 : 3, NULL, 0), -1);
    /* the length bounds the scan: the NUL-free tail past len is never read */
    assert_int_equal(iql_split(q, 10, out, 2, err, sizeof(err)), 1);
    assert_int_equal(out[0].len, 10);
}

/* every statement of a split classifies; a dangerous statement hidden behind quoting is still found */
static void test_split_then_classify(void **state)
{
    (void)state;
    const char *q = "SELECT \"x;y\" FROM cpu WHERE h = 'a;b'; DROP MEASUREMENT cpu; SHOW DATABASES";
    iql_slice_t s[4];
    iql_stmt_t st;
    char err[256];
    assert_int_equal(iql_split(q, strlen(q), s, 4, err, sizeof(err)), 3);
    assert_int_equal(iql_classify(IQL, s[0].ptr, s[0].len, &st, err, sizeof(err)), 0);
    assert_int_equal(st.cls, IQL_ROUTE);
    assert_int_equal(iql_classify(IQL, s[1].ptr, s[1].len, &st, err, sizeof(err)), IQL_EFORBIDDEN);
    assert_non_null(strstr(err, "DROP MEASUREMENT cpu"));
    assert_non_null(strstr(err, "DROP is not allowed"));
    assert_int_equal(iql_classify(IQL, s[2].ptr, s[2].len, &st, err, sizeof(err)), 0);
    assert_int_equal(st.cls, IQL_FANOUT);
}

/* ---- qualifiers: db / rp / name of each source ------------------------------------------------ */

typedef struct st_qual_case_t {
    const char *q;
    size_t idx;
    const char *db, *rp, *name; /* NULL = absent */
} qual_case_t;

static const qual_case_t qual_cases[] = {
    {"select * from cpu", 0, NULL, NULL, "cpu"},
    {"select * from autogen.cpu", 0, NULL, "autogen", "cpu"},
    {"select * from db..cpu", 0, "db", NULL, "cpu"},
    {"select * from db.autogen.cpu", 0, "db", "autogen", "cpu"},
    {"select * from db.\"auto.gen\".cpu", 0, "db", "auto.gen", "cpu"},
    {"select * from test1.autogen.\"c\\\"pu.load\"", 0, "test1", "autogen", "c\"pu.load"},
    {"select * from \"d.b\".\"auto.gen\".\"cpu.load\"", 0, "d.b", "auto.gen", "cpu.load"},
    {"select * from \"d\\\"b\"..\"cpu.load\"", 0, "d\"b", NULL, "cpu.load"},
    {"select * from \"db\".\"auto\\\"gen\".\"cpu.load\"", 0, "db", "auto\"gen", "cpu.load"},
    {"select * from \"auto\\\"gen\".\"'measurement with spaces, commas and 'quotes''\"", 0, NULL, "auto\"gen",
     "'measurement with spaces, commas and 'quotes''"},
    {"select * from \"db\\\"2\".\"auto\\\"gen\".\"\\\"measurement with spaces, commas and \\\"quotes\\\"\\\"\"", 0,
     "db\"2", "auto\"gen", "\"measurement with spaces, commas and \"quotes\"\""},
    {"SHOW SERIES FROM \"telegraf\".\"autogen\".\"cp.u\" WHERE cpu = 'cpu8'", 0, "telegraf", "autogen", "cp.u"},
    {"SHOW SERIES FROM \"telegraf\"..\"cp.u\" WHERE cpu = 'cpu8'", 0, "telegraf", NULL, "cp.u"},
    {"SHOW FIELD KEYS FROM \"1h\".\"cpu\"", 0, NULL, "1h", "cpu"},
    {"SELECT SUM(\"max\") FROM (SELECT MAX(\"water_level\") FROM db.\"auto.gen\".\"h2o_feet\" GROUP BY "
     "\"location\")",
     0, "db", "auto.gen", "h2o_feet"},
    {"SELECT SUM(\"max\") FROM ( SELECT MAX(\"water_level\") FROM ( SELECT \"water_total\" / \"water_unit\" AS "
     "\"water_level\" FROM \"db\".autogen.\"pet_daycare\" ) GROUP BY \"location\" )",
     0, "db", "autogen", "pet_daycare"},
    {"select * from db1.autogen./c.u/", 0, "db1", "autogen", "c.u"},
    {"select * from db1../c\\/u/", 0, "db1", NULL, "c/u"},
    {"select v from a, x.\"b\", db.rp./c/", 1, NULL, "x", "b"},
    {"select v from a, x.\"b\", db.rp./c/", 2, "db", "rp", "c"},
};

static int ident_equals(const iql_ident_t *id, const char *want)
{
    char buf[256];
    if (want == NULL)
        return id->kind == IQL_ID_NONE;
    return iql_ident_copy(id, buf, sizeof(buf)) == (int)strlen(want) && strcmp(buf, want) == 0;
}

static void test_qualifiers(void **state)
{
    (void)state;
    size_t failures = 0, count = sizeof(qual_cases) / sizeof(qual_cases[0]);
    for (size_t i = 0; i < count; i++) {
        const qual_case_t *c = &qual_cases[i];
        iql_stmt_t st;
        char err[256] = "";
        int rc = iql_classify(IQL, c->q, strlen(c->q), &st, err, sizeof(err));
        const iql_source_t *src = &st.sources[c->idx];
        if (rc != 0 || st.nsources <= c->idx || !ident_equals(&src->db, c->db) || !ident_equals(&src->rp, c->rp) ||
            !ident_equals(&src->name, c->name)) {
            print_error("qualifier case %zu: %s (rc=%d %s)\n", i, c->q, rc, err);
            failures++;
        }
    }
    assert_int_equal(failures, 0);
}

/* ---- ON db and BROADCAST db, with the token span for substitution ------------------------------ */

typedef struct st_db_case_t {
    const char *q;
    int broadcast;      /* check st.db, else st.on_db */
    const char *db;     /* decoded, NULL = absent */
    const char *as_tok; /* the token as written */
} db_case_t;

static const db_case_t db_cases[] = {
    {"CREATE DATABASE \"foo\"", 1, "foo", "\"foo\""},
    {"CREATE DATABASE \"bar\" WITH DURATION 1d REPLICATION 1 SHARD DURATION 30m NAME \"myrp\"", 1, "bar", "\"bar\""},
    {"CREATE DATABASE \"mydb\" WITH NAME \"myrp\"", 1, "mydb", "\"mydb\""},
    {"CREATE DATABASE foo", 1, "foo", "foo"},
    {"CREATE DATABASE \"f.oo\"", 1, "f.oo", "\"f.oo\""},
    {"CREATE DATABASE \"f,oo\"", 1, "f,oo", "\"f,oo\""},
    {"CREATE DATABASE \"f oo\"", 1, "f oo", "\"f oo\""},
    {"CREATE DATABASE \"f\\\"oo\"", 1, "f\"oo", "\"f\\\"oo\""},
    {"CREATE RETENTION POLICY \"10m.events\" ON \"somedb\" DURATION 60m REPLICATION 2 SHARD DURATION 30m", 1, "somedb",
     "\"somedb\""},
    {"CREATE RETENTION POLICY \"10m.events\" ON \"somedb\" DURATION 60m REPLICATION 2", 0, "somedb", "\"somedb\""},
    {"SHOW RETENTION POLICIES ON \"mydb\"", 0, "mydb", "\"mydb\""},
    {"SHOW RETENTION POLICIES on \"telegraf\"", 0, "telegraf", "\"telegraf\""},
    {"SHOW MEASUREMENTS ON db1 LIMIT 10", 0, "db1", "db1"},
    {"SHOW TAG KEYS ON \"db\\\"1\" FROM cpu", 0, "db\"1", "\"db\\\"1\""},
    {"SHOW FIELD KEYS ON x", 0, "x", "x"},
    {"SHOW SERIES CARDINALITY ON mydb FROM cpu", 0, "mydb", "mydb"},
    {"SHOW MEASUREMENTS", 0, NULL, NULL},
    {"SELECT * FROM db..cpu", 0, NULL, NULL},
};

static void test_db_extraction(void **state)
{
    (void)state;
    size_t failures = 0, count = sizeof(db_cases) / sizeof(db_cases[0]);
    for (size_t i = 0; i < count; i++) {
        const db_case_t *c = &db_cases[i];
        iql_stmt_t st;
        char err[256] = "";
        int rc = iql_classify(IQL, c->q, strlen(c->q), &st, err, sizeof(err));
        const iql_ident_t *id = c->broadcast ? &st.db : &st.on_db;
        int ok = rc == 0 && ident_equals(id, c->db) && (c->broadcast == 0 || st.cls == IQL_BROADCAST);
        if (ok && c->as_tok != NULL) {
            /* the token span lies inside the statement, so it can be replaced in place */
            ok = id->tok.len == strlen(c->as_tok) && memcmp(id->tok.ptr, c->as_tok, id->tok.len) == 0 &&
                 id->tok.ptr >= c->q && id->tok.ptr + id->tok.len <= c->q + strlen(c->q);
        }
        if (!ok) {
            print_error("db case %zu: %s (rc=%d %s)\n", i, c->q, rc, err);
            failures++;
        }
    }
    assert_int_equal(failures, 0);
}

/* ---- paging clauses (A.5.1 plus Grafana's) ---------------------------------------------------- */

typedef struct st_page_case_t {
    const char *q;
    int64_t limit, offset, slimit, soffset;
    const char *bare;
} page_case_t;

static const page_case_t page_cases[] = {
    {"show measurements limit 1 offset 1", 1, 1, -1, -1, "show measurements"},
    {"SHOW  MEASUREMENTS  ON  db1  LIMIT  10  OFFSET  20", 10, 20, -1, -1, "SHOW  MEASUREMENTS  ON  db1"},
    {"SHOW  MEASUREMENTS WHERE \"region\" = 'uswest' AND \"host\" = 'serverA' limit 20 offset 10", 20, 10, -1, -1,
     "SHOW  MEASUREMENTS WHERE \"region\" = 'uswest' AND \"host\" = 'serverA'"},
    {"show MEASUREMENTS WITH  MEASUREMENT =~ /h2o.*/  limit 100 offset 200", 100, 200, -1, -1,
     "show MEASUREMENTS WITH  MEASUREMENT =~ /h2o.*/"},
    {"show  MEASUREMENTS  limit 1", 1, -1, -1, -1, "show  MEASUREMENTS"},
    {"show  MEASUREMENTS offset 10", -1, 10, -1, -1, "show  MEASUREMENTS"},
    {"show  MEASUREMENTS", -1, -1, -1, -1, "show  MEASUREMENTS"},
    {"show series limit 1 offset 1", 1, 1, -1, -1, "show series"},
    {"SHOW  SERIES  ON  db1  LIMIT  10  OFFSET  20", 10, 20, -1, -1, "SHOW  SERIES  ON  db1"},
    {"SHOW  SERIES WHERE \"region\" = 'uswest' AND \"host\" = 'serverA' limit 20 offset 10", 20, 10, -1, -1,
     "SHOW  SERIES WHERE \"region\" = 'uswest' AND \"host\" = 'serverA'"},
    {"SHOW SERIES   WHERE cpu = 'cpu8'  limit 100 offset 200", 100, 200, -1, -1, "SHOW SERIES   WHERE cpu = 'cpu8'"},
    {"show  SERIES  limit 1", 1, -1, -1, -1, "show  SERIES"},
    {"show  SERIES offset 10", -1, 10, -1, -1, "show  SERIES"},
    {"SHOW  SERIES", -1, -1, -1, -1, "SHOW  SERIES"},
    {"show tag keys limit 1 offset 1", 1, 1, -1, -1, "show tag keys"},
    {"SHOW  TAG KEYS  ON  db1  LIMIT  10  OFFSET  20", 10, 20, -1, -1, "SHOW  TAG KEYS  ON  db1"},
    {"SHOW  TAG KEYS WHERE \"region\" = 'uswest' AND \"host\" = 'serverA' limit 20 offset 10", 20, 10, -1, -1,
     "SHOW  TAG KEYS WHERE \"region\" = 'uswest' AND \"host\" = 'serverA'"},
    {"show  TAG KEYS  limit 1", 1, -1, -1, -1, "show  TAG KEYS"},
    {"show  TAG KEYS offset 10", -1, 10, -1, -1, "show  TAG KEYS"},
    {"show  TAG KEYS", -1, -1, -1, -1, "show  TAG KEYS"},
    {"show tag values limit 1 offset 1", 1, 1, -1, -1, "show tag values"},
    {"SHOW  TAG VALUES  ON  db1  LIMIT  10  OFFSET  20", 10, 20, -1, -1, "SHOW  TAG VALUES  ON  db1"},
    {"SHOW  TAG VALUES WITH KEY = \"region\" limit 20 offset 10", 20, 10, -1, -1,
     "SHOW  TAG VALUES WITH KEY = \"region\""},
    {"SHOW  TAG VALUES WITH KEY !~ /.*c.*/  limit 20 offset 10", 20, 10, -1, -1,
     "SHOW  TAG VALUES WITH KEY !~ /.*c.*/"},
    {"SHOW  TAG VALUES  WITH KEY IN (\"region\", \"host\") WHERE \"service\" = 'redis' limit 20 offset 10", 20, 10, -1,
     -1, "SHOW  TAG VALUES  WITH KEY IN (\"region\", \"host\") WHERE \"service\" = 'redis'"},
    {"show  TAG VALUES  limit 1", 1, -1, -1, -1, "show  TAG VALUES"},
    {"show  TAG VALUES offset 10", -1, 10, -1, -1, "show  TAG VALUES"},
    {"show  TAG VALUES", -1, -1, -1, -1, "show  TAG VALUES"},
    {"show field keys limit 1 offset 1", 1, 1, -1, -1, "show field keys"},
    {"SHOW  FIELD KEYS  ON  db1  LIMIT  10  OFFSET  20", 10, 20, -1, -1, "SHOW  FIELD KEYS  ON  db1"},
    {"show  FIELD KEYS  limit 1", 1, -1, -1, -1, "show  FIELD KEYS"},
    {"show  FIELD KEYS offset 10", -1, 10, -1, -1, "show  FIELD KEYS"},
    {"show  FIELD KEYS", -1, -1, -1, -1, "show  FIELD KEYS"},
    /* beyond A.5.1 */
    {"SHOW MEASUREMENTS WITH MEASUREMENT =~ /cpu/ LIMIT 100", 100, -1, -1, -1,
     "SHOW MEASUREMENTS WITH MEASUREMENT =~ /cpu/"},
    {"SHOW TAG KEYS LIMIT 1 OFFSET 2 SLIMIT 3 SOFFSET 4", 1, 2, 3, 4, "SHOW TAG KEYS"},
    {"SHOW TAG KEYS SLIMIT 3", -1, -1, 3, -1, "SHOW TAG KEYS"},
    {"SHOW MEASUREMENTS /* c */ LIMIT /* d */ 5 -- e", 5, -1, -1, -1, "SHOW MEASUREMENTS"},
    {"SHOW MEASUREMENTS WHERE \"limit\" = 'LIMIT 3' LIMIT 0", 0, -1, -1, -1,
     "SHOW MEASUREMENTS WHERE \"limit\" = 'LIMIT 3'"},
    {"SHOW MEASUREMENTS LIMIT 9223372036854775807", INT64_MAX, -1, -1, -1, "SHOW MEASUREMENTS"},
    {"SHOW DATABASES", -1, -1, -1, -1, "SHOW DATABASES"},
};

static void test_paging(void **state)
{
    (void)state;
    size_t failures = 0, count = sizeof(page_cases) / sizeof(page_cases[0]);
    for (size_t i = 0; i < count; i++) {
        const page_case_t *c = &page_cases[i];
        iql_stmt_t st;
        char err[256] = "";
        int rc = iql_classify(IQL, c->q, strlen(c->q), &st, err, sizeof(err));
        if (rc != 0 || st.cls != IQL_FANOUT || st.limit != c->limit || st.offset != c->offset ||
            st.slimit != c->slimit || st.soffset != c->soffset || st.bare.len != strlen(c->bare) ||
            memcmp(st.bare.ptr, c->bare, st.bare.len) != 0) {
            print_error("paging case %zu: %s: rc=%d limit=%lld offset=%lld bare=[%.*s] %s\n", i, c->q, rc,
                        (long long)st.limit, (long long)st.offset, (int)st.bare.len, st.bare.ptr, err);
            failures++;
        }
    }
    assert_int_equal(failures, 0);
}

/* A SHOW with FROM sources on backend sets that share no backend may be fanned out and merged instead. */
static void test_show_mergeable(void **state)
{
    static const struct {
        const char *q;
        int want;
    } cases[] = {
        {"SHOW TAG KEYS FROM cpu, mem", 1},
        {"SHOW TAG KEYS FROM /^c/ SLIMIT 2", 1},
        {"SHOW FIELD KEYS FROM cpu, mem LIMIT 2", 1},
        {"SHOW TAG VALUES FROM /^c/ WITH KEY = host", 1},
        {"SHOW SERIES FROM cpu, mem WHERE host = 'a' LIMIT 1 OFFSET 2", 1},
        {"SHOW SERIES FROM cpu, mem SLIMIT 1", 0},
        {"SHOW SERIES CARDINALITY FROM cpu, mem", 0},
        {"SELECT * FROM cpu, mem", 0},
        {"SELECT * FROM /^(cpu|mem)$/", 0},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        iql_stmt_t st;
        char err[256] = "";
        int rc = iql_classify(IQL, cases[i].q, strlen(cases[i].q), &st, err, sizeof(err));
        if (rc != 0 || st.cls != IQL_ROUTE || iql_show_mergeable(&st) != cases[i].want)
            fail_msg("%s: rc=%d cls=%d mergeable=%d %s", cases[i].q, rc, st.cls, iql_show_mergeable(&st), err);
    }
}

/* ---- identifiers ------------------------------------------------------------------------------ */

static void test_ident_copy(void **state)
{
    (void)state;
    char buf[16];
    iql_ident_t id = {IQL_ID_QUOTED, {"\"a\\\"b\\\\c\\nd\"", 12}};
    assert_int_equal(iql_ident_copy(&id, buf, sizeof(buf)), 7);
    assert_string_equal(buf, "a\"b\\c\nd");
    assert_int_equal(iql_ident_copy(&id, buf, 7), -1); /* 7 bytes + NUL do not fit */
    assert_int_equal(iql_ident_copy(&id, buf, 8), 7);
    iql_ident_t bad = {IQL_ID_QUOTED, {"\"a\\qb\"", 6}};
    assert_int_equal(iql_ident_copy(&bad, buf, sizeof(buf)), -1);
    iql_ident_t re = {IQL_ID_REGEX, {"/a\\/b\\.c/", 9}};
    assert_int_equal(iql_ident_copy(&re, buf, sizeof(buf)), 6);
    assert_string_equal(buf, "a/b\\.c");
    iql_ident_t bare = {IQL_ID_BARE, {"cpu_1", 5}};
    assert_int_equal(iql_ident_copy(&bare, buf, sizeof(buf)), 5);
    assert_string_equal(buf, "cpu_1");
    assert_int_equal(iql_ident_copy(&bare, buf, 5), -1);
    iql_ident_t none = {IQL_ID_NONE, {NULL, 0}};
    assert_int_equal(iql_ident_copy(&none, buf, sizeof(buf)), -1);
    iql_ident_t empty = {IQL_ID_QUOTED, {"\"\"", 2}};
    assert_int_equal(iql_ident_copy(&empty, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "");
}

static void test_quote_ident(void **state)
{
    (void)state;
    char buf[32];
    assert_int_equal(iql_quote_ident("db", 2, buf, sizeof(buf)), 4);
    assert_string_equal(buf, "\"db\"");
    assert_int_equal(iql_quote_ident("a\"b\\c\nd", 7, buf, sizeof(buf)), 12);
    assert_string_equal(buf, "\"a\\\"b\\\\c\\nd\"");
    assert_int_equal(iql_quote_ident("abc", 3, buf, 5), -1);
    assert_int_equal(iql_quote_ident("abc", 3, buf, 6), 5);
    /* round trip through the parser: the quoted form decodes back to the name */
    char q[64], back[32];
    const char *name = "we\"ird \\ name";
    int n = iql_quote_ident(name, strlen(name), buf, sizeof(buf));
    assert_true(n > 0);
    snprintf(q, sizeof(q), "CREATE DATABASE %s", buf);
    iql_stmt_t st;
    assert_int_equal(iql_classify(IQL, q, strlen(q), &st, NULL, 0), 0);
    assert_int_equal(iql_ident_copy(&st.db, back, sizeof(back)), (int)strlen(name));
    assert_string_equal(back, name);
}

/* ---- queryforbid, messages, limits ------------------------------------------------------------ */

static void test_queryforbid(void **state)
{
    (void)state;
    char err[256] = "";
    iql_t *iql = iql_create("(?i)\\bfrom\\s+\"?secret", err, sizeof(err));
    assert_non_null(iql);
    iql_stmt_t st;
    const char *q1 = "SELECT value FROM \"secret_m\"";
    assert_int_equal(iql_classify(iql, q1, strlen(q1), &st, err, sizeof(err)), IQL_EQUERYFORBID);
    assert_int_equal(st.cls, IQL_REJECT);
    assert_non_null(strstr(err, "queryforbid"));
    assert_non_null(strstr(err, q1));
    const char *q2 = "SELECT value FROM cpu";
    assert_int_equal(iql_classify(iql, q2, strlen(q2), &st, err, sizeof(err)), 0);
    assert_int_equal(st.cls, IQL_ROUTE);
    const char *q3 = "show tag keys FROM SECRET";
    assert_int_equal(iql_classify(iql, q3, strlen(q3), &st, err, sizeof(err)), IQL_EQUERYFORBID);
    iql_free(iql);

    /* case-sensitive unless the pattern says otherwise */
    iql = iql_create("max\\(", err, sizeof(err));
    assert_non_null(iql);
    const char *q4 = "SELECT MAX(v) FROM cpu", *q5 = "SELECT max(v) FROM cpu";
    assert_int_equal(iql_classify(iql, q4, strlen(q4), &st, err, sizeof(err)), 0);
    assert_int_equal(iql_classify(iql, q5, strlen(q5), &st, err, sizeof(err)), IQL_EQUERYFORBID);
    iql_free(iql);

    /* an empty pattern means none */
    iql = iql_create("", err, sizeof(err));
    assert_non_null(iql);
    assert_int_equal(iql_classify(iql, q5, strlen(q5), &st, err, sizeof(err)), 0);
    iql_free(iql);
}

static void test_invalid_pattern(void **state)
{
    (void)state;
    char err[256] = "";
    assert_null(iql_create("select (", err, sizeof(err)));
    assert_non_null(strstr(err, "queryforbid"));
    assert_non_null(strstr(err, "select ("));
    assert_non_null(strstr(err, "missing closing parenthesis"));
    assert_null(iql_create("[z-a]", NULL, 0));
}

static void test_messages(void **state)
{
    (void)state;
    char err[256];
    iql_stmt_t st;
    const char *q = "SELECT * INTO copy FROM cpu";
    assert_int_equal(iql_classify(IQL, q, strlen(q), &st, err, sizeof(err)), IQL_EFORBIDDEN);
    assert_non_null(strstr(err, "SELECT ... INTO"));
    assert_non_null(strstr(err, q));
    q = "  -- c\n  ALTER RETENTION POLICY rp ON db DEFAULT  ";
    assert_int_equal(iql_classify(IQL, q, strlen(q), &st, err, sizeof(err)), IQL_EFORBIDDEN);
    assert_non_null(strstr(err, "\"ALTER RETENTION POLICY rp ON db DEFAULT\""));
    assert_non_null(strstr(err, "ALTER is not allowed"));
    q = "SET PASSWORD FOR bob = 'x'";
    assert_int_equal(iql_classify(IQL, q, strlen(q), &st, err, sizeof(err)), IQL_EFORBIDDEN);
    assert_non_null(strstr(err, "SET PASSWORD is not allowed"));
    q = "CREATE CONTINUOUS QUERY cq ON db BEGIN SELECT 1 INTO x FROM m END";
    assert_int_equal(iql_classify(IQL, q, strlen(q), &st, err, sizeof(err)), IQL_EFORBIDDEN);
    assert_non_null(strstr(err, "CREATE CONTINUOUS QUERY is not allowed"));
    q = "select * from";
    assert_int_equal(iql_classify(IQL, q, strlen(q), &st, err, sizeof(err)), IQL_EPARSE);
    assert_non_null(strstr(err, "error parsing statement \"select * from\": found EOF, expected identifier"));
    q = "SELECT value FROM cpu WHERE host = 'a";
    assert_int_equal(iql_classify(IQL, q, strlen(q), &st, err, sizeof(err)), IQL_EPARSE);
    assert_non_null(strstr(err, "unterminated string"));
    q = "SHOW SERIES CARDINALITY";
    assert_int_equal(iql_classify(IQL, q, strlen(q), &st, err, sizeof(err)), IQL_EFORBIDDEN);
    assert_non_null(strstr(err, "CARDINALITY needs FROM"));
    /* a long statement is cut in the message, and a tiny buffer is never overrun */
    char longq[600];
    memset(longq, 'x', sizeof(longq));
    memcpy(longq, "DROP ", 5);
    assert_int_equal(iql_classify(IQL, longq, sizeof(longq), &st, err, sizeof(err)), IQL_EFORBIDDEN);
    assert_true(strlen(err) < 250);
    assert_non_null(strstr(err, "..."));
    char tiny[8];
    assert_int_equal(iql_classify(IQL, longq, sizeof(longq), &st, tiny, sizeof(tiny)), IQL_EFORBIDDEN);
    assert_int_equal(strlen(tiny), 7);
    assert_string_equal(iql_strerror(IQL_EFORBIDDEN), "statement not allowed through the proxy");
    assert_string_equal(iql_class_name(IQL_FANOUT), "fanout");
}

/* influxd's answer to a query whose statement starts with no statement keyword, each case as a real influxd 1.6.7 words
 * it: the token as its scanner reads and names it, the place in characters of the query it trimmed. The statement is
 * the last of the query (after its last ';'). */
static void test_first_token_error(void **state)
{
    (void)state;
    static const struct {
        const char *q, *found; /* found: NULL when influxd would speak of a later token */
        unsigned line, col;
    } cases[] = {
        {"SELEC * FROM cpu", "SELEC", 1, 1},
        {"select * from cpu; selec 1", "selec", 1, 20},
        {"SELECT * FROM cpu;\n  \"foo\" bar", "foo", 2, 3},
        {"SELECT 'é' FROM x; FOO", "FOO", 1, 20},    /* characters, not bytes */
        {"\xc2\xa0\xe2\x80\x83 \tFOO", "FOO", 1, 1}, /* the query is trimmed of Unicode spaces too */
        {"-- c\n FOO", "FOO", 2, 2},
        {"/* c */ FOO", "FOO", 1, 9},
        {"/* open", "ILLEGAL", 1, 1},
        {"from x", "FROM", 1, 1}, /* a keyword is named in capitals */
        {"begin", "BEGIN", 1, 1},
        {"true x", "TRUE", 1, 1},
        {"_x y", "_x", 1, 1},
        {"123 abc", "123", 1, 1},
        {"1.5x", "1.5", 1, 1},
        {"1. x", "1", 1, 1},
        {".5 x", ".5", 1, 1},
        {"10s x", "10s", 1, 1},
        {"1e5", "1e5", 1, 1},
        {"5\xc2\xb5s x", "5\xc2\xb5s", 1, 1},
        {"( x", "(", 1, 1},
        {"=~ x", "=~", 1, 1},
        {"!~ x", "!~", 1, 1},
        {"<> x", "!=", 1, 1},
        {"<= x", "<=", 1, 1},
        {":: x", "::", 1, 1},
        {"! x", "!", 1, 1},
        {"@ x", "@", 1, 1},
        {"/re/ x", "/", 1, 1},
        {"-5 x", "-", 1, 1},
        {"$ x", "$", 1, 1},
        {"$1 x", "$1", 1, 1},
        {"$'x'", "$", 1, 1},
        {"\xc3\x84\xc3\x96", "\xc3\x84", 1, 1},
        {"\xff x", "\xef\xbf\xbd", 1, 1}, /* not UTF-8: U+FFFD */
        {"\"foo", "foo", 1, 1},
        {"\"fo\\\"o\" x", "fo\"o", 1, 1},
        {"\"a\\nb\" x", "a\nb", 1, 1},
        {"\"x\\q\" y", "\\q", 1, 4}, /* a bad escape, placed at the escaped character */
        {"\"a\\\nb\" x", "\\\n", 1, 4},
        {"\"\" x", "IDENT", 1, 1},
        {"'a\\'b' x", "a'b", 1, 1},
        {"'' x", "STRING", 1, 1},
        {"x\"y\" z", "y", 1, 1},
        /* a string is placed at the character before it */
        {"SELECT * FROM cpu; 'str'", "str", 1, 19},
        {"SELECT * FROM cpu;'str'", "str", 1, 18},
        {"SELECT * FROM cpu; \"foo", "foo", 1, 19},
        {"SELECT * FROM cpu; /* c */'s'", "s", 1, 26},
        {"SELECT * FROM cpu;\r\n's'", "s", 1, 19},
        {"SELECT 'é' FROM cpu;\n'str'", "str", 1, 21},
        {"SELECT * FROM cpu; $'x'", "$", 1, 20},
        /* statement keywords: influxd's error is about a later token */
        {"SELECT", NULL, 0, 0},
        {"show foo", NULL, 0, 0},
        {"KILL QUERY 1", NULL, 0, 0},
        {"  explain x", NULL, 0, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *q = cases[i].q, *last = strrchr(q, ';');
        size_t off = last != NULL ? (size_t)(last + 1 - q) : 0;
        char err[512], want[512];
        int ret = iql_first_token_error(q, strlen(q), off, err, sizeof(err));
        if (cases[i].found == NULL) {
            if (ret != 0)
                fail_msg("case %zu [%s]: got [%s]", i, q, err);
            continue;
        }
        snprintf(want, sizeof(want),
                 "error parsing query: found %s, expected SELECT, DELETE, SHOW, CREATE, DROP, EXPLAIN, GRANT, REVOKE, "
                 "ALTER, SET, KILL at line %u, char %u",
                 cases[i].found, cases[i].line, cases[i].col);
        if (ret != 1 || strcmp(err, want) != 0)
            fail_msg("case %zu [%s]: expected [%s] got %d [%s]", i, q, want, ret, ret ? err : "");
    }
    /* Go's strings.TrimSpace */
    static const struct {
        const char *in, *out;
    } trims[] = {
        {"  x  ", "x"},
        {"\t\r\n\v\fx y\n", "x y"},
        {"\xc2\xa0\xc2\x85\xe2\x80\x83\xe3\x80\x80x\xe2\x80\xa8\xe2\x80\xaf", "x"},
        {"\xe1\x9a\x80\xe2\x81\x9fx\xe2\x80\x8a", "x"},
        {"x\xc2", "x\xc2"}, /* a broken sequence is no space */
        {"\xa0x\x85", "\xa0x\x85"},
        {"\xe2\x80\x8b x", "\xe2\x80\x8b x"}, /* U+200B is no space for Go */
        {" \n ", ""},
        {"", ""},
    };
    for (size_t i = 0; i < sizeof(trims) / sizeof(trims[0]); i++) {
        iql_slice_t t = iql_trim_space(trims[i].in, strlen(trims[i].in));
        if (t.len != strlen(trims[i].out) || memcmp(t.ptr, trims[i].out, t.len) != 0)
            fail_msg("trim %zu: got [%.*s]", i, (int)t.len, t.ptr);
    }
}

static void test_source_cap(void **state)
{
    (void)state;
    char q[1024], err[256];
    size_t n = (size_t)snprintf(q, sizeof(q), "SELECT v FROM m0");
    for (int i = 1; i < IQL_MAX_SOURCES; i++)
        n += (size_t)snprintf(q + n, sizeof(q) - n, ", m%d", i);
    iql_stmt_t st;
    assert_int_equal(iql_classify(IQL, q, n, &st, err, sizeof(err)), 0);
    assert_int_equal(st.nsources, IQL_MAX_SOURCES);
    n += (size_t)snprintf(q + n, sizeof(q) - n, ", one_more");
    assert_int_equal(iql_classify(IQL, q, n, &st, err, sizeof(err)), IQL_ELIMIT);
    assert_int_equal(st.cls, IQL_REJECT);
    assert_int_equal(st.nsources, 0);
    assert_non_null(strstr(err, "more than 32 measurements"));
}

/* the text and bare slices point into the caller's buffer, and classification needs no NUL */
static void test_slices_and_length(void **state)
{
    (void)state;
    const char buf[] = "  SHOW MEASUREMENTS LIMIT 3 ; trailing garbage";
    iql_stmt_t st;
    char err[128];
    assert_int_equal(iql_classify(IQL, buf, 27, &st, err, sizeof(err)), 0);
    assert_ptr_equal(st.text.ptr, buf + 2);
    assert_int_equal(st.text.len, 25);
    assert_ptr_equal(st.bare.ptr, buf + 2);
    assert_int_equal(st.bare.len, 17);
    assert_int_equal(st.limit, 3);
    assert_int_equal(iql_classify(IQL, NULL, 0, &st, err, sizeof(err)), IQL_EPARSE);
}

static int group_setup(void **state)
{
    (void)state;
    char err[256];
    IQL = iql_create(NULL, err, sizeof(err));
    return IQL == NULL ? -1 : 0;
}

static int group_teardown(void **state)
{
    (void)state;
    iql_free(IQL);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_classify_table), cmocka_unit_test(test_split_table),
        cmocka_unit_test(test_split_cap),      cmocka_unit_test(test_split_then_classify),
        cmocka_unit_test(test_qualifiers),     cmocka_unit_test(test_db_extraction),
        cmocka_unit_test(test_paging),         cmocka_unit_test(test_show_mergeable),
        cmocka_unit_test(test_ident_copy),     cmocka_unit_test(test_quote_ident),
        cmocka_unit_test(test_queryforbid),    cmocka_unit_test(test_invalid_pattern),
        cmocka_unit_test(test_messages),       cmocka_unit_test(test_first_token_error),
        cmocka_unit_test(test_source_cap),     cmocka_unit_test(test_slices_and_length),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
