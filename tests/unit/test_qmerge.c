/*
 * Unit tests for qmerge: fanned-out SHOW answers merged as one influxd holding the union of the data
 * would answer, results of multi-statement requests cut out and reassembled, and every kind of bad
 * backend answer.
 *
 * The tables below were recorded from influxd 1.6.7: two servers (a, b) each holding part of the data
 * (databases created in different orders, different retention policies, measurements, tags, fields
 * and series on each) and a third holding all of it. For each statement a and b were asked without
 * the paging clauses (as the query handler sends it) and the third with them; merging a and b must
 * give the third server's body byte for byte, compact and pretty.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "../../lib/qmerge.h"

#define MAXOUT (1 << 20)

typedef struct st_rec_t {
    iql_kind_t kind;
    const char *stmt;
    qm_paging_t paging;
    const char *a, *b;      /* the partial answers */
    const char *u, *pretty; /* the union's answer, compact and (when recorded) pretty */
} rec_t;

/* clang-format off */
static const rec_t recorded[] = {
    {IQL_K_SHOW_DATABASES, "SHOW DATABASES", {-1, -1, -1, -1, 0},
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"databases\",\"columns\":[\"name\"],\"values\":[[\"telegraf\"],[\"alpha\"]]}]}]}",
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"databases\",\"columns\":[\"name\"],\"values\":[[\"zeta\"],[\"telegraf\"],[\"alpha\"]]}]}]}",
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"databases\",\"columns\":[\"name\"],\"values\":[[\"telegraf\"],[\"alpha\"],[\"zeta\"]]}]}]}\n",
     "{\n    \"results\": [\n        {\n            \"statement_id\": 0,\n            \"series\": [\n                {\n                    \"name\": \"databases\",\n                    \"columns\": [\n                        \"name\"\n                    ],\n                    \"values\": [\n                        [\n                            \"telegraf\"\n                        ],\n                        [\n                            \"alpha\"\n                        ],\n                        [\n                            \"zeta\"\n                        ]\n                    ]\n                }\n            ]\n        }\n    ]\n}\n"},
    {IQL_K_SHOW_RETENTION_POLICIES, "SHOW RETENTION POLICIES ON telegraf", {-1, -1, -1, -1, 0},
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"columns\":[\"name\",\"duration\",\"shardGroupDuration\",\"replicaN\",\"default\"],\"values\":[[\"autogen\",\"0s\",\"168h0m0s\",1,true],[\"week\",\"168h0m0s\",\"24h0m0s\",1,false]]}]}]}",
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"columns\":[\"name\",\"duration\",\"shardGroupDuration\",\"replicaN\",\"default\"],\"values\":[[\"autogen\",\"0s\",\"168h0m0s\",1,true],[\"month\",\"720h0m0s\",\"48h0m0s\",1,false]]}]}]}",
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"columns\":[\"name\",\"duration\",\"shardGroupDuration\",\"replicaN\",\"default\"],\"values\":[[\"autogen\",\"0s\",\"168h0m0s\",1,true],[\"week\",\"168h0m0s\",\"24h0m0s\",1,false],[\"month\",\"720h0m0s\",\"48h0m0s\",1,false]]}]}]}\n",
     "{\n    \"results\": [\n        {\n            \"statement_id\": 0,\n            \"series\": [\n                {\n                    \"columns\": [\n                        \"name\",\n                        \"duration\",\n                        \"shardGroupDuration\",\n                        \"replicaN\",\n                        \"default\"\n                    ],\n                    \"values\": [\n                        [\n                            \"autogen\",\n                            \"0s\",\n                            \"168h0m0s\",\n                            1,\n                            true\n                        ],\n                        [\n                            \"week\",\n                            \"168h0m0s\",\n                            \"24h0m0s\",\n                            1,\n                            false\n                        ],\n                        [\n                            \"month\",\n                            \"720h0m0s\",\n                            \"48h0m0s\",\n                            1,\n                            false\n                        ]\n                    ]\n                }\n            ]\n        }\n    ]\n}\n"},
    {IQL_K_SHOW_RETENTION_POLICIES, "SHOW RETENTION POLICIES ON alpha", {-1, -1, -1, -1, 0},
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"columns\":[\"name\",\"duration\",\"shardGroupDuration\",\"replicaN\",\"default\"],\"values\":[[\"autogen\",\"0s\",\"168h0m0s\",1,true]]}]}]}",
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"columns\":[\"name\",\"duration\",\"shardGroupDuration\",\"replicaN\",\"default\"],\"values\":[[\"autogen\",\"0s\",\"168h0m0s\",1,true]]}]}]}",
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"columns\":[\"name\",\"duration\",\"shardGroupDuration\",\"replicaN\",\"default\"],\"values\":[[\"autogen\",\"0s\",\"168h0m0s\",1,true]]}]}]}\n",
     NULL},
    {IQL_K_SHOW_RETENTION_POLICIES, "SHOW RETENTION POLICIES ON zeta", {-1, -1, -1, -1, 0},
     "{\"results\":[{\"statement_id\":0,\"error\":\"database not found: zeta\"}]}",
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"columns\":[\"name\",\"duration\",\"shardGroupDuration\",\"replicaN\",\"default\"],\"values\":[[\"autogen\",\"0s\",\"168h0m0s\",1,true]]}]}]}",
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"columns\":[\"name\",\"duration\",\"shardGroupDuration\",\"replicaN\",\"default\"],\"values\":[[\"autogen\",\"0s\",\"168h0m0s\",1,true]]}]}]}\n",
     NULL},
    {IQL_K_SHOW_RETENTION_POLICIES, "SHOW RETENTION POLICIES ON nope", {-1, -1, -1, -1, 0},
     "{\"results\":[{\"statement_id\":0,\"error\":\"database not found: nope\"}]}",
     "{\"results\":[{\"statement_id\":0,\"error\":\"database not found: nope\"}]}",
     "{\"results\":[{\"statement_id\":0,\"error\":\"database not found: nope\"}]}\n",
     NULL},
    {IQL_K_SHOW_RETENTION_POLICIES, "SHOW RETENTION POLICIES", {-1, -1, -1, -1, 0},
     "{\"results\":[{\"statement_id\":0,\"error\":\"database name required\"}]}",
     "{\"results\":[{\"statement_id\":0,\"error\":\"database name required\"}]}",
     "{\"results\":[{\"statement_id\":0,\"error\":\"database name required\"}]}\n",
     NULL},
    {IQL_K_SHOW_MEASUREMENTS, "SHOW MEASUREMENTS ON telegraf", {-1, -1, -1, -1, 0},
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"measurements\",\"columns\":[\"name\"],\"values\":[[\"cpu\"],[\"cpu!\"],[\"disk io\"],[\"mem\"],[\"notags\"],[\"température\"],[\"web\"]]}]}]}",
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"measurements\",\"columns\":[\"name\"],\"values\":[[\"aaa\"],[\"cpu\"],[\"cpu-x\"],[\"mem\"],[\"net\"]]}]}]}",
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"measurements\",\"columns\":[\"name\"],\"values\":[[\"aaa\"],[\"cpu\"],[\"cpu!\"],[\"cpu-x\"],[\"disk io\"],[\"mem\"],[\"net\"],[\"notags\"],[\"température\"],[\"web\"]]}]}]}\n",
     NULL},
    {IQL_K_SHOW_MEASUREMENTS, "SHOW MEASUREMENTS ON telegraf LIMIT 3 OFFSET 2", {3, 2, -1, -1, 0},
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"measurements\",\"columns\":[\"name\"],\"values\":[[\"cpu\"],[\"cpu!\"],[\"disk io\"],[\"mem\"],[\"notags\"],[\"température\"],[\"web\"]]}]}]}",
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"measurements\",\"columns\":[\"name\"],\"values\":[[\"aaa\"],[\"cpu\"],[\"cpu-x\"],[\"mem\"],[\"net\"]]}]}]}",
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"measurements\",\"columns\":[\"name\"],\"values\":[[\"cpu!\"],[\"cpu-x\"],[\"disk io\"]]}]}]}\n",
     NULL},
    {IQL_K_SHOW_MEASUREMENTS, "SHOW MEASUREMENTS ON telegraf LIMIT 100", {100, -1, -1, -1, 0},
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"measurements\",\"columns\":[\"name\"],\"values\":[[\"cpu\"],[\"cpu!\"],[\"disk io\"],[\"mem\"],[\"notags\"],[\"température\"],[\"web\"]]}]}]}",
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"measurements\",\"columns\":[\"name\"],\"values\":[[\"aaa\"],[\"cpu\"],[\"cpu-x\"],[\"mem\"],[\"net\"]]}]}]}",
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"measurements\",\"columns\":[\"name\"],\"values\":[[\"aaa\"],[\"cpu\"],[\"cpu!\"],[\"cpu-x\"],[\"disk io\"],[\"mem\"],[\"net\"],[\"notags\"],[\"température\"],[\"web\"]]}]}]}\n",
     NULL},
    {IQL_K_SHOW_MEASUREMENTS, "SHOW MEASUREMENTS ON telegraf OFFSET 100", {-1, 100, -1, -1, 0},
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"measurements\",\"columns\":[\"name\"],\"values\":[[\"cpu\"],[\"cpu!\"],[\"disk io\"],[\"mem\"],[\"notags\"],[\"température\"],[\"web\"]]}]}]}",
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"measurements\",\"columns\":[\"name\"],\"values\":[[\"aaa\"],[\"cpu\"],[\"cpu-x\"],[\"mem\"],[\"net\"]]}]}]}",
     "{\"results\":[{\"statement_id\":0}]}\n",
     NULL},
    {IQL_K_SHOW_MEASUREMENTS, "SHOW MEASUREMENTS ON telegraf OFFSET 9", {-1, 9, -1, -1, 0},
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"measurements\",\"columns\":[\"name\"],\"values\":[[\"cpu\"],[\"cpu!\"],[\"disk io\"],[\"mem\"],[\"notags\"],[\"température\"],[\"web\"]]}]}]}",
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"measurements\",\"columns\":[\"name\"],\"values\":[[\"aaa\"],[\"cpu\"],[\"cpu-x\"],[\"mem\"],[\"net\"]]}]}]}",
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"measurements\",\"columns\":[\"name\"],\"values\":[[\"web\"]]}]}]}\n",
     NULL},
    {IQL_K_SHOW_MEASUREMENTS, "SHOW MEASUREMENTS ON telegraf LIMIT 0", {0, -1, -1, -1, 0},
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"measurements\",\"columns\":[\"name\"],\"values\":[[\"cpu\"],[\"cpu!\"],[\"disk io\"],[\"mem\"],[\"notags\"],[\"température\"],[\"web\"]]}]}]}",
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"measurements\",\"columns\":[\"name\"],\"values\":[[\"aaa\"],[\"cpu\"],[\"cpu-x\"],[\"mem\"],[\"net\"]]}]}]}",
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"measurements\",\"columns\":[\"name\"],\"values\":[[\"aaa\"],[\"cpu\"],[\"cpu!\"],[\"cpu-x\"],[\"disk io\"],[\"mem\"],[\"net\"],[\"notags\"],[\"température\"],[\"web\"]]}]}]}\n",
     NULL},
    {IQL_K_SHOW_MEASUREMENTS, "SHOW MEASUREMENTS ON telegraf WITH MEASUREMENT =~ /cpu/", {-1, -1, -1, -1, 0},
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"measurements\",\"columns\":[\"name\"],\"values\":[[\"cpu\"],[\"cpu!\"]]}]}]}",
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"measurements\",\"columns\":[\"name\"],\"values\":[[\"cpu\"],[\"cpu-x\"]]}]}]}",
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"measurements\",\"columns\":[\"name\"],\"values\":[[\"cpu\"],[\"cpu!\"],[\"cpu-x\"]]}]}]}\n",
     NULL},
    {IQL_K_SHOW_MEASUREMENTS, "SHOW MEASUREMENTS ON telegraf WITH MEASUREMENT =~ /cpu|net/ LIMIT 2 OFFSET 1", {2, 1, -1, -1, 0},
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"measurements\",\"columns\":[\"name\"],\"values\":[[\"cpu\"],[\"cpu!\"]]}]}]}",
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"measurements\",\"columns\":[\"name\"],\"values\":[[\"cpu\"],[\"cpu-x\"],[\"net\"]]}]}]}",
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"measurements\",\"columns\":[\"name\"],\"values\":[[\"cpu!\"],[\"cpu-x\"]]}]}]}\n",
     NULL},
    {IQL_K_SHOW_MEASUREMENTS, "SHOW MEASUREMENTS ON telegraf WITH MEASUREMENT = mem", {-1, -1, -1, -1, 0},
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"measurements\",\"columns\":[\"name\"],\"values\":[[\"mem\"]]}]}]}",
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"measurements\",\"columns\":[\"name\"],\"values\":[[\"mem\"]]}]}]}",
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"measurements\",\"columns\":[\"name\"],\"values\":[[\"mem\"]]}]}]}\n",
     NULL},
    {IQL_K_SHOW_MEASUREMENTS, "SHOW MEASUREMENTS ON telegraf WHERE host = 'a'", {-1, -1, -1, -1, 0},
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"measurements\",\"columns\":[\"name\"],\"values\":[[\"cpu\"],[\"mem\"]]}]}]}",
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"measurements\",\"columns\":[\"name\"],\"values\":[[\"cpu\"]]}]}]}",
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"measurements\",\"columns\":[\"name\"],\"values\":[[\"cpu\"],[\"mem\"]]}]}]}\n",
     NULL},
    {IQL_K_SHOW_MEASUREMENTS, "SHOW MEASUREMENTS ON alpha", {-1, -1, -1, -1, 0},
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"measurements\",\"columns\":[\"name\"],\"values\":[[\"cpu\"]]}]}]}",
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"measurements\",\"columns\":[\"name\"],\"values\":[[\"mem\"]]}]}]}",
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"measurements\",\"columns\":[\"name\"],\"values\":[[\"cpu\"],[\"mem\"]]}]}]}\n",
     NULL},
    {IQL_K_SHOW_MEASUREMENTS, "SHOW MEASUREMENTS ON zeta", {-1, -1, -1, -1, 0},
     "{\"results\":[{\"statement_id\":0}]}",
     "{\"results\":[{\"statement_id\":0}]}",
     "{\"results\":[{\"statement_id\":0}]}\n",
     NULL},
    {IQL_K_SHOW_MEASUREMENTS, "SHOW MEASUREMENTS", {-1, -1, -1, -1, 0},
     "{\"results\":[{\"statement_id\":0,\"error\":\"database name required\"}]}",
     "{\"results\":[{\"statement_id\":0,\"error\":\"database name required\"}]}",
     "{\"results\":[{\"statement_id\":0,\"error\":\"database name required\"}]}\n",
     NULL},
    {IQL_K_SHOW_TAG_KEYS, "SHOW TAG KEYS ON telegraf", {-1, -1, -1, -1, 0},
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"cpu\",\"columns\":[\"tagKey\"],\"values\":[[\"host\"],[\"region\"]]},{\"name\":\"cpu!\",\"columns\":[\"tagKey\"],\"values\":[[\"host\"]]},{\"name\":\"disk io\",\"columns\":[\"tagKey\"],\"values\":[[\"path\"]]},{\"name\":\"mem\",\"columns\":[\"tagKey\"],\"values\":[[\"host\"]]},{\"name\":\"température\",\"columns\":[\"tagKey\"],\"values\":[[\"ville\"]]},{\"name\":\"web\",\"columns\":[\"tagKey\"],\"values\":[[\"page\"]]}]}]}",
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"aaa\",\"columns\":[\"tagKey\"],\"values\":[[\"k\"]]},{\"name\":\"cpu\",\"columns\":[\"tagKey\"],\"values\":[[\"dc\"],[\"host\"],[\"region\"]]},{\"name\":\"cpu-x\",\"columns\":[\"tagKey\"],\"values\":[[\"host\"]]},{\"name\":\"mem\",\"columns\":[\"tagKey\"],\"values\":[[\"host\"]]},{\"name\":\"net\",\"columns\":[\"tagKey\"],\"values\":[[\"iface\"]]}]}]}",
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"aaa\",\"columns\":[\"tagKey\"],\"values\":[[\"k\"]]},{\"name\":\"cpu\",\"columns\":[\"tagKey\"],\"values\":[[\"dc\"],[\"host\"],[\"region\"]]},{\"name\":\"cpu!\",\"columns\":[\"tagKey\"],\"values\":[[\"host\"]]},{\"name\":\"cpu-x\",\"columns\":[\"tagKey\"],\"values\":[[\"host\"]]},{\"name\":\"disk io\",\"columns\":[\"tagKey\"],\"values\":[[\"path\"]]},{\"name\":\"mem\",\"columns\":[\"tagKey\"],\"values\":[[\"host\"]]},{\"name\":\"net\",\"columns\":[\"tagKey\"],\"values\":[[\"iface\"]]},{\"name\":\"température\",\"columns\":[\"tagKey\"],\"values\":[[\"ville\"]]},{\"name\":\"web\",\"columns\":[\"tagKey\"],\"values\":[[\"page\"]]}]}]}\n",
     "{\n    \"results\": [\n        {\n            \"statement_id\": 0,\n            \"series\": [\n                {\n                    \"name\": \"aaa\",\n                    \"columns\": [\n                        \"tagKey\"\n                    ],\n                    \"values\": [\n                        [\n                            \"k\"\n                        ]\n                    ]\n                },\n                {\n                    \"name\": \"cpu\",\n                    \"columns\": [\n                        \"tagKey\"\n                    ],\n                    \"values\": [\n                        [\n                            \"dc\"\n                        ],\n                        [\n                            \"host\"\n                        ],\n                        [\n                            \"region\"\n                        ]\n                    ]\n                },\n                {\n                    \"name\": \"cpu!\",\n                    \"columns\": [\n                        \"tagKey\"\n                    ],\n                    \"values\": [\n                        [\n                            \"host\"\n                        ]\n                    ]\n                },\n                {\n                    \"name\": \"cpu-x\",\n                    \"columns\": [\n                        \"tagKey\"\n                    ],\n                    \"values\": [\n                        [\n                            \"host\"\n                        ]\n                    ]\n                },\n                {\n                    \"name\": \"disk io\",\n                    \"columns\": [\n                        \"tagKey\"\n                    ],\n                    \"values\": [\n                        [\n                            \"path\"\n                        ]\n                    ]\n                },\n                {\n                    \"name\": \"mem\",\n                    \"columns\": [\n                        \"tagKey\"\n                    ],\n                    \"values\": [\n                        [\n                            \"host\"\n                        ]\n                    ]\n                },\n                {\n                    \"name\": \"net\",\n                    \"columns\": [\n                        \"tagKey\"\n                    ],\n                    \"values\": [\n                        [\n                            \"iface\"\n                        ]\n                    ]\n                },\n                {\n                    \"name\": \"température\",\n                    \"columns\": [\n                        \"tagKey\"\n                    ],\n                    \"values\": [\n                        [\n                            \"ville\"\n                        ]\n                    ]\n                },\n                {\n                    \"name\": \"web\",\n                    \"columns\": [\n                        \"tagKey\"\n                    ],\n                    \"values\": [\n                        [\n                            \"page\"\n                        ]\n                    ]\n                }\n            ]\n        }\n    ]\n}\n"},
    {IQL_K_SHOW_TAG_KEYS, "SHOW TAG KEYS ON telegraf LIMIT 1 OFFSET 1", {1, 1, -1, -1, 0},
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"cpu\",\"columns\":[\"tagKey\"],\"values\":[[\"host\"],[\"region\"]]},{\"name\":\"cpu!\",\"columns\":[\"tagKey\"],\"values\":[[\"host\"]]},{\"name\":\"disk io\",\"columns\":[\"tagKey\"],\"values\":[[\"path\"]]},{\"name\":\"mem\",\"columns\":[\"tagKey\"],\"values\":[[\"host\"]]},{\"name\":\"température\",\"columns\":[\"tagKey\"],\"values\":[[\"ville\"]]},{\"name\":\"web\",\"columns\":[\"tagKey\"],\"values\":[[\"page\"]]}]}]}",
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"aaa\",\"columns\":[\"tagKey\"],\"values\":[[\"k\"]]},{\"name\":\"cpu\",\"columns\":[\"tagKey\"],\"values\":[[\"dc\"],[\"host\"],[\"region\"]]},{\"name\":\"cpu-x\",\"columns\":[\"tagKey\"],\"values\":[[\"host\"]]},{\"name\":\"mem\",\"columns\":[\"tagKey\"],\"values\":[[\"host\"]]},{\"name\":\"net\",\"columns\":[\"tagKey\"],\"values\":[[\"iface\"]]}]}]}",
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"cpu\",\"columns\":[\"tagKey\"],\"values\":[[\"host\"]]}]}]}\n",
     NULL},
    {IQL_K_SHOW_TAG_KEYS, "SHOW TAG KEYS ON telegraf LIMIT 2", {2, -1, -1, -1, 0},
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"cpu\",\"columns\":[\"tagKey\"],\"values\":[[\"host\"],[\"region\"]]},{\"name\":\"cpu!\",\"columns\":[\"tagKey\"],\"values\":[[\"host\"]]},{\"name\":\"disk io\",\"columns\":[\"tagKey\"],\"values\":[[\"path\"]]},{\"name\":\"mem\",\"columns\":[\"tagKey\"],\"values\":[[\"host\"]]},{\"name\":\"température\",\"columns\":[\"tagKey\"],\"values\":[[\"ville\"]]},{\"name\":\"web\",\"columns\":[\"tagKey\"],\"values\":[[\"page\"]]}]}]}",
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"aaa\",\"columns\":[\"tagKey\"],\"values\":[[\"k\"]]},{\"name\":\"cpu\",\"columns\":[\"tagKey\"],\"values\":[[\"dc\"],[\"host\"],[\"region\"]]},{\"name\":\"cpu-x\",\"columns\":[\"tagKey\"],\"values\":[[\"host\"]]},{\"name\":\"mem\",\"columns\":[\"tagKey\"],\"values\":[[\"host\"]]},{\"name\":\"net\",\"columns\":[\"tagKey\"],\"values\":[[\"iface\"]]}]}]}",
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"aaa\",\"columns\":[\"tagKey\"],\"values\":[[\"k\"]]},{\"name\":\"cpu\",\"columns\":[\"tagKey\"],\"values\":[[\"dc\"],[\"host\"]]},{\"name\":\"cpu!\",\"columns\":[\"tagKey\"],\"values\":[[\"host\"]]},{\"name\":\"cpu-x\",\"columns\":[\"tagKey\"],\"values\":[[\"host\"]]},{\"name\":\"disk io\",\"columns\":[\"tagKey\"],\"values\":[[\"path\"]]},{\"name\":\"mem\",\"columns\":[\"tagKey\"],\"values\":[[\"host\"]]},{\"name\":\"net\",\"columns\":[\"tagKey\"],\"values\":[[\"iface\"]]},{\"name\":\"température\",\"columns\":[\"tagKey\"],\"values\":[[\"ville\"]]},{\"name\":\"web\",\"columns\":[\"tagKey\"],\"values\":[[\"page\"]]}]}]}\n",
     NULL},
    {IQL_K_SHOW_TAG_KEYS, "SHOW TAG KEYS ON telegraf OFFSET 5", {-1, 5, -1, -1, 0},
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"cpu\",\"columns\":[\"tagKey\"],\"values\":[[\"host\"],[\"region\"]]},{\"name\":\"cpu!\",\"columns\":[\"tagKey\"],\"values\":[[\"host\"]]},{\"name\":\"disk io\",\"columns\":[\"tagKey\"],\"values\":[[\"path\"]]},{\"name\":\"mem\",\"columns\":[\"tagKey\"],\"values\":[[\"host\"]]},{\"name\":\"température\",\"columns\":[\"tagKey\"],\"values\":[[\"ville\"]]},{\"name\":\"web\",\"columns\":[\"tagKey\"],\"values\":[[\"page\"]]}]}]}",
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"aaa\",\"columns\":[\"tagKey\"],\"values\":[[\"k\"]]},{\"name\":\"cpu\",\"columns\":[\"tagKey\"],\"values\":[[\"dc\"],[\"host\"],[\"region\"]]},{\"name\":\"cpu-x\",\"columns\":[\"tagKey\"],\"values\":[[\"host\"]]},{\"name\":\"mem\",\"columns\":[\"tagKey\"],\"values\":[[\"host\"]]},{\"name\":\"net\",\"columns\":[\"tagKey\"],\"values\":[[\"iface\"]]}]}]}",
     "{\"results\":[{\"statement_id\":0}]}\n",
     NULL},
    {IQL_K_SHOW_TAG_KEYS, "SHOW TAG KEYS ON telegraf SLIMIT 2 SOFFSET 1", {-1, -1, 2, 1, 0},
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"cpu\",\"columns\":[\"tagKey\"],\"values\":[[\"host\"],[\"region\"]]},{\"name\":\"cpu!\",\"columns\":[\"tagKey\"],\"values\":[[\"host\"]]},{\"name\":\"disk io\",\"columns\":[\"tagKey\"],\"values\":[[\"path\"]]},{\"name\":\"mem\",\"columns\":[\"tagKey\"],\"values\":[[\"host\"]]},{\"name\":\"température\",\"columns\":[\"tagKey\"],\"values\":[[\"ville\"]]},{\"name\":\"web\",\"columns\":[\"tagKey\"],\"values\":[[\"page\"]]}]}]}",
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"aaa\",\"columns\":[\"tagKey\"],\"values\":[[\"k\"]]},{\"name\":\"cpu\",\"columns\":[\"tagKey\"],\"values\":[[\"dc\"],[\"host\"],[\"region\"]]},{\"name\":\"cpu-x\",\"columns\":[\"tagKey\"],\"values\":[[\"host\"]]},{\"name\":\"mem\",\"columns\":[\"tagKey\"],\"values\":[[\"host\"]]},{\"name\":\"net\",\"columns\":[\"tagKey\"],\"values\":[[\"iface\"]]}]}]}",
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"aaa\",\"columns\":[\"tagKey\"],\"values\":[[\"k\"]]},{\"name\":\"cpu\",\"columns\":[\"tagKey\"],\"values\":[[\"dc\"],[\"host\"],[\"region\"]]},{\"name\":\"cpu!\",\"columns\":[\"tagKey\"],\"values\":[[\"host\"]]},{\"name\":\"cpu-x\",\"columns\":[\"tagKey\"],\"values\":[[\"host\"]]},{\"name\":\"disk io\",\"columns\":[\"tagKey\"],\"values\":[[\"path\"]]},{\"name\":\"mem\",\"columns\":[\"tagKey\"],\"values\":[[\"host\"]]},{\"name\":\"net\",\"columns\":[\"tagKey\"],\"values\":[[\"iface\"]]},{\"name\":\"température\",\"columns\":[\"tagKey\"],\"values\":[[\"ville\"]]},{\"name\":\"web\",\"columns\":[\"tagKey\"],\"values\":[[\"page\"]]}]}]}\n",
     NULL},
    {IQL_K_SHOW_TAG_KEYS, "SHOW TAG KEYS ON telegraf WHERE region = 'us'", {-1, -1, -1, -1, 0},
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"cpu\",\"columns\":[\"tagKey\"],\"values\":[[\"host\"],[\"region\"]]}]}]}",
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"cpu\",\"columns\":[\"tagKey\"],\"values\":[[\"dc\"],[\"host\"],[\"region\"]]}]}]}",
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"cpu\",\"columns\":[\"tagKey\"],\"values\":[[\"dc\"],[\"host\"],[\"region\"]]}]}]}\n",
     NULL},
    {IQL_K_SHOW_TAG_KEYS, "SHOW TAG KEYS ON alpha", {-1, -1, -1, -1, 0},
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"cpu\",\"columns\":[\"tagKey\"],\"values\":[[\"host\"]]}]}]}",
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"mem\",\"columns\":[\"tagKey\"],\"values\":[[\"host\"]]}]}]}",
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"cpu\",\"columns\":[\"tagKey\"],\"values\":[[\"host\"]]},{\"name\":\"mem\",\"columns\":[\"tagKey\"],\"values\":[[\"host\"]]}]}]}\n",
     NULL},
    {IQL_K_SHOW_TAG_KEYS, "SHOW TAG KEYS ON zeta", {-1, -1, -1, -1, 0},
     "{\"results\":[{\"statement_id\":0,\"error\":\"database not found: zeta\"}]}",
     "{\"results\":[{\"statement_id\":0}]}",
     "{\"results\":[{\"statement_id\":0}]}\n",
     NULL},
    {IQL_K_SHOW_FIELD_KEYS, "SHOW FIELD KEYS ON telegraf", {-1, -1, -1, -1, 0},
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"cpu\",\"columns\":[\"fieldKey\",\"fieldType\"],\"values\":[[\"count\",\"integer\"],[\"usage\",\"float\"]]},{\"name\":\"cpu!\",\"columns\":[\"fieldKey\",\"fieldType\"],\"values\":[[\"val\",\"float\"]]},{\"name\":\"disk io\",\"columns\":[\"fieldKey\",\"fieldType\"],\"values\":[[\"v\",\"float\"]]},{\"name\":\"mem\",\"columns\":[\"fieldKey\",\"fieldType\"],\"values\":[[\"free\",\"integer\"],[\"ok\",\"boolean\"]]},{\"name\":\"notags\",\"columns\":[\"fieldKey\",\"fieldType\"],\"values\":[[\"x\",\"float\"]]},{\"name\":\"température\",\"columns\":[\"fieldKey\",\"fieldType\"],\"values\":[[\"t\",\"float\"]]},{\"name\":\"web\",\"columns\":[\"fieldKey\",\"fieldType\"],\"values\":[[\"hits\",\"integer\"]]}]}]}",
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"aaa\",\"columns\":[\"fieldKey\",\"fieldType\"],\"values\":[[\"f\",\"string\"]]},{\"name\":\"cpu\",\"columns\":[\"fieldKey\",\"fieldType\"],\"values\":[[\"count\",\"integer\"],[\"usage\",\"float\"]]},{\"name\":\"cpu-x\",\"columns\":[\"fieldKey\",\"fieldType\"],\"values\":[[\"v\",\"float\"]]},{\"name\":\"mem\",\"columns\":[\"fieldKey\",\"fieldType\"],\"values\":[[\"used\",\"float\"]]},{\"name\":\"net\",\"columns\":[\"fieldKey\",\"fieldType\"],\"values\":[[\"bytes\",\"integer\"],[\"name\",\"string\"]]}]}]}",
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"aaa\",\"columns\":[\"fieldKey\",\"fieldType\"],\"values\":[[\"f\",\"string\"]]},{\"name\":\"cpu\",\"columns\":[\"fieldKey\",\"fieldType\"],\"values\":[[\"count\",\"integer\"],[\"usage\",\"float\"]]},{\"name\":\"cpu!\",\"columns\":[\"fieldKey\",\"fieldType\"],\"values\":[[\"val\",\"float\"]]},{\"name\":\"cpu-x\",\"columns\":[\"fieldKey\",\"fieldType\"],\"values\":[[\"v\",\"float\"]]},{\"name\":\"disk io\",\"columns\":[\"fieldKey\",\"fieldType\"],\"values\":[[\"v\",\"float\"]]},{\"name\":\"mem\",\"columns\":[\"fieldKey\",\"fieldType\"],\"values\":[[\"free\",\"integer\"],[\"ok\",\"boolean\"],[\"used\",\"float\"]]},{\"name\":\"net\",\"columns\":[\"fieldKey\",\"fieldType\"],\"values\":[[\"bytes\",\"integer\"],[\"name\",\"string\"]]},{\"name\":\"notags\",\"columns\":[\"fieldKey\",\"fieldType\"],\"values\":[[\"x\",\"float\"]]},{\"name\":\"température\",\"columns\":[\"fieldKey\",\"fieldType\"],\"values\":[[\"t\",\"float\"]]},{\"name\":\"web\",\"columns\":[\"fieldKey\",\"fieldType\"],\"values\":[[\"hits\",\"integer\"]]}]}]}\n",
     NULL},
    {IQL_K_SHOW_FIELD_KEYS, "SHOW FIELD KEYS ON telegraf LIMIT 1 OFFSET 1", {1, 1, -1, -1, 0},
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"cpu\",\"columns\":[\"fieldKey\",\"fieldType\"],\"values\":[[\"count\",\"integer\"],[\"usage\",\"float\"]]},{\"name\":\"cpu!\",\"columns\":[\"fieldKey\",\"fieldType\"],\"values\":[[\"val\",\"float\"]]},{\"name\":\"disk io\",\"columns\":[\"fieldKey\",\"fieldType\"],\"values\":[[\"v\",\"float\"]]},{\"name\":\"mem\",\"columns\":[\"fieldKey\",\"fieldType\"],\"values\":[[\"free\",\"integer\"],[\"ok\",\"boolean\"]]},{\"name\":\"notags\",\"columns\":[\"fieldKey\",\"fieldType\"],\"values\":[[\"x\",\"float\"]]},{\"name\":\"température\",\"columns\":[\"fieldKey\",\"fieldType\"],\"values\":[[\"t\",\"float\"]]},{\"name\":\"web\",\"columns\":[\"fieldKey\",\"fieldType\"],\"values\":[[\"hits\",\"integer\"]]}]}]}",
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"aaa\",\"columns\":[\"fieldKey\",\"fieldType\"],\"values\":[[\"f\",\"string\"]]},{\"name\":\"cpu\",\"columns\":[\"fieldKey\",\"fieldType\"],\"values\":[[\"count\",\"integer\"],[\"usage\",\"float\"]]},{\"name\":\"cpu-x\",\"columns\":[\"fieldKey\",\"fieldType\"],\"values\":[[\"v\",\"float\"]]},{\"name\":\"mem\",\"columns\":[\"fieldKey\",\"fieldType\"],\"values\":[[\"used\",\"float\"]]},{\"name\":\"net\",\"columns\":[\"fieldKey\",\"fieldType\"],\"values\":[[\"bytes\",\"integer\"],[\"name\",\"string\"]]}]}]}",
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"cpu\",\"columns\":[\"fieldKey\",\"fieldType\"],\"values\":[[\"usage\",\"float\"]]},{\"name\":\"mem\",\"columns\":[\"fieldKey\",\"fieldType\"],\"values\":[[\"ok\",\"boolean\"]]},{\"name\":\"net\",\"columns\":[\"fieldKey\",\"fieldType\"],\"values\":[[\"name\",\"string\"]]}]}]}\n",
     NULL},
    {IQL_K_SHOW_FIELD_KEYS, "SHOW FIELD KEYS ON telegraf LIMIT 2", {2, -1, -1, -1, 0},
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"cpu\",\"columns\":[\"fieldKey\",\"fieldType\"],\"values\":[[\"count\",\"integer\"],[\"usage\",\"float\"]]},{\"name\":\"cpu!\",\"columns\":[\"fieldKey\",\"fieldType\"],\"values\":[[\"val\",\"float\"]]},{\"name\":\"disk io\",\"columns\":[\"fieldKey\",\"fieldType\"],\"values\":[[\"v\",\"float\"]]},{\"name\":\"mem\",\"columns\":[\"fieldKey\",\"fieldType\"],\"values\":[[\"free\",\"integer\"],[\"ok\",\"boolean\"]]},{\"name\":\"notags\",\"columns\":[\"fieldKey\",\"fieldType\"],\"values\":[[\"x\",\"float\"]]},{\"name\":\"température\",\"columns\":[\"fieldKey\",\"fieldType\"],\"values\":[[\"t\",\"float\"]]},{\"name\":\"web\",\"columns\":[\"fieldKey\",\"fieldType\"],\"values\":[[\"hits\",\"integer\"]]}]}]}",
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"aaa\",\"columns\":[\"fieldKey\",\"fieldType\"],\"values\":[[\"f\",\"string\"]]},{\"name\":\"cpu\",\"columns\":[\"fieldKey\",\"fieldType\"],\"values\":[[\"count\",\"integer\"],[\"usage\",\"float\"]]},{\"name\":\"cpu-x\",\"columns\":[\"fieldKey\",\"fieldType\"],\"values\":[[\"v\",\"float\"]]},{\"name\":\"mem\",\"columns\":[\"fieldKey\",\"fieldType\"],\"values\":[[\"used\",\"float\"]]},{\"name\":\"net\",\"columns\":[\"fieldKey\",\"fieldType\"],\"values\":[[\"bytes\",\"integer\"],[\"name\",\"string\"]]}]}]}",
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"aaa\",\"columns\":[\"fieldKey\",\"fieldType\"],\"values\":[[\"f\",\"string\"]]},{\"name\":\"cpu\",\"columns\":[\"fieldKey\",\"fieldType\"],\"values\":[[\"count\",\"integer\"],[\"usage\",\"float\"]]},{\"name\":\"cpu!\",\"columns\":[\"fieldKey\",\"fieldType\"],\"values\":[[\"val\",\"float\"]]},{\"name\":\"cpu-x\",\"columns\":[\"fieldKey\",\"fieldType\"],\"values\":[[\"v\",\"float\"]]},{\"name\":\"disk io\",\"columns\":[\"fieldKey\",\"fieldType\"],\"values\":[[\"v\",\"float\"]]},{\"name\":\"mem\",\"columns\":[\"fieldKey\",\"fieldType\"],\"values\":[[\"free\",\"integer\"],[\"ok\",\"boolean\"]]},{\"name\":\"net\",\"columns\":[\"fieldKey\",\"fieldType\"],\"values\":[[\"bytes\",\"integer\"],[\"name\",\"string\"]]},{\"name\":\"notags\",\"columns\":[\"fieldKey\",\"fieldType\"],\"values\":[[\"x\",\"float\"]]},{\"name\":\"température\",\"columns\":[\"fieldKey\",\"fieldType\"],\"values\":[[\"t\",\"float\"]]},{\"name\":\"web\",\"columns\":[\"fieldKey\",\"fieldType\"],\"values\":[[\"hits\",\"integer\"]]}]}]}\n",
     NULL},
    {IQL_K_SHOW_FIELD_KEYS, "SHOW FIELD KEYS ON telegraf OFFSET 3", {-1, 3, -1, -1, 0},
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"cpu\",\"columns\":[\"fieldKey\",\"fieldType\"],\"values\":[[\"count\",\"integer\"],[\"usage\",\"float\"]]},{\"name\":\"cpu!\",\"columns\":[\"fieldKey\",\"fieldType\"],\"values\":[[\"val\",\"float\"]]},{\"name\":\"disk io\",\"columns\":[\"fieldKey\",\"fieldType\"],\"values\":[[\"v\",\"float\"]]},{\"name\":\"mem\",\"columns\":[\"fieldKey\",\"fieldType\"],\"values\":[[\"free\",\"integer\"],[\"ok\",\"boolean\"]]},{\"name\":\"notags\",\"columns\":[\"fieldKey\",\"fieldType\"],\"values\":[[\"x\",\"float\"]]},{\"name\":\"température\",\"columns\":[\"fieldKey\",\"fieldType\"],\"values\":[[\"t\",\"float\"]]},{\"name\":\"web\",\"columns\":[\"fieldKey\",\"fieldType\"],\"values\":[[\"hits\",\"integer\"]]}]}]}",
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"aaa\",\"columns\":[\"fieldKey\",\"fieldType\"],\"values\":[[\"f\",\"string\"]]},{\"name\":\"cpu\",\"columns\":[\"fieldKey\",\"fieldType\"],\"values\":[[\"count\",\"integer\"],[\"usage\",\"float\"]]},{\"name\":\"cpu-x\",\"columns\":[\"fieldKey\",\"fieldType\"],\"values\":[[\"v\",\"float\"]]},{\"name\":\"mem\",\"columns\":[\"fieldKey\",\"fieldType\"],\"values\":[[\"used\",\"float\"]]},{\"name\":\"net\",\"columns\":[\"fieldKey\",\"fieldType\"],\"values\":[[\"bytes\",\"integer\"],[\"name\",\"string\"]]}]}]}",
     "{\"results\":[{\"statement_id\":0}]}\n",
     NULL},
    {IQL_K_SHOW_FIELD_KEYS, "SHOW FIELD KEYS ON alpha", {-1, -1, -1, -1, 0},
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"cpu\",\"columns\":[\"fieldKey\",\"fieldType\"],\"values\":[[\"usage\",\"float\"]]}]}]}",
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"mem\",\"columns\":[\"fieldKey\",\"fieldType\"],\"values\":[[\"free\",\"integer\"]]}]}]}",
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"cpu\",\"columns\":[\"fieldKey\",\"fieldType\"],\"values\":[[\"usage\",\"float\"]]},{\"name\":\"mem\",\"columns\":[\"fieldKey\",\"fieldType\"],\"values\":[[\"free\",\"integer\"]]}]}]}\n",
     NULL},
    {IQL_K_SHOW_FIELD_KEYS, "SHOW FIELD KEYS ON zeta", {-1, -1, -1, -1, 0},
     "{\"results\":[{\"statement_id\":0,\"error\":\"database not found: zeta\"}]}",
     "{\"results\":[{\"statement_id\":0}]}",
     "{\"results\":[{\"statement_id\":0}]}\n",
     NULL},
    {IQL_K_SHOW_TAG_VALUES, "SHOW TAG VALUES ON telegraf WITH KEY = host", {-1, -1, -1, -1, 0},
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"cpu\",\"columns\":[\"key\",\"value\"],\"values\":[[\"host\",\"a\"],[\"host\",\"a!\"],[\"host\",\"b\"]]},{\"name\":\"cpu!\",\"columns\":[\"key\",\"value\"],\"values\":[[\"host\",\"z\"]]},{\"name\":\"mem\",\"columns\":[\"key\",\"value\"],\"values\":[[\"host\",\"a\"]]}]}]}",
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"cpu\",\"columns\":[\"key\",\"value\"],\"values\":[[\"host\",\"a\"],[\"host\",\"c\"]]},{\"name\":\"cpu-x\",\"columns\":[\"key\",\"value\"],\"values\":[[\"host\",\"q\"]]},{\"name\":\"mem\",\"columns\":[\"key\",\"value\"],\"values\":[[\"host\",\"h3\"]]}]}]}",
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"cpu\",\"columns\":[\"key\",\"value\"],\"values\":[[\"host\",\"a\"],[\"host\",\"a!\"],[\"host\",\"b\"],[\"host\",\"c\"]]},{\"name\":\"cpu!\",\"columns\":[\"key\",\"value\"],\"values\":[[\"host\",\"z\"]]},{\"name\":\"cpu-x\",\"columns\":[\"key\",\"value\"],\"values\":[[\"host\",\"q\"]]},{\"name\":\"mem\",\"columns\":[\"key\",\"value\"],\"values\":[[\"host\",\"a\"],[\"host\",\"h3\"]]}]}]}\n",
     "{\n    \"results\": [\n        {\n            \"statement_id\": 0,\n            \"series\": [\n                {\n                    \"name\": \"cpu\",\n                    \"columns\": [\n                        \"key\",\n                        \"value\"\n                    ],\n                    \"values\": [\n                        [\n                            \"host\",\n                            \"a\"\n                        ],\n                        [\n                            \"host\",\n                            \"a!\"\n                        ],\n                        [\n                            \"host\",\n                            \"b\"\n                        ],\n                        [\n                            \"host\",\n                            \"c\"\n                        ]\n                    ]\n                },\n                {\n                    \"name\": \"cpu!\",\n                    \"columns\": [\n                        \"key\",\n                        \"value\"\n                    ],\n                    \"values\": [\n                        [\n                            \"host\",\n                            \"z\"\n                        ]\n                    ]\n                },\n                {\n                    \"name\": \"cpu-x\",\n                    \"columns\": [\n                        \"key\",\n                        \"value\"\n                    ],\n                    \"values\": [\n                        [\n                            \"host\",\n                            \"q\"\n                        ]\n                    ]\n                },\n                {\n                    \"name\": \"mem\",\n                    \"columns\": [\n                        \"key\",\n                        \"value\"\n                    ],\n                    \"values\": [\n                        [\n                            \"host\",\n                            \"a\"\n                        ],\n                        [\n                            \"host\",\n                            \"h3\"\n                        ]\n                    ]\n                }\n            ]\n        }\n    ]\n}\n"},
    {IQL_K_SHOW_TAG_VALUES, "SHOW TAG VALUES ON telegraf WITH KEY IN (host, region)", {-1, -1, -1, -1, 0},
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"cpu\",\"columns\":[\"key\",\"value\"],\"values\":[[\"host\",\"a\"],[\"host\",\"a!\"],[\"host\",\"b\"],[\"region\",\"eu\"],[\"region\",\"us\"]]},{\"name\":\"cpu!\",\"columns\":[\"key\",\"value\"],\"values\":[[\"host\",\"z\"]]},{\"name\":\"mem\",\"columns\":[\"key\",\"value\"],\"values\":[[\"host\",\"a\"]]}]}]}",
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"cpu\",\"columns\":[\"key\",\"value\"],\"values\":[[\"host\",\"a\"],[\"host\",\"c\"],[\"region\",\"eu\"],[\"region\",\"us\"]]},{\"name\":\"cpu-x\",\"columns\":[\"key\",\"value\"],\"values\":[[\"host\",\"q\"]]},{\"name\":\"mem\",\"columns\":[\"key\",\"value\"],\"values\":[[\"host\",\"h3\"]]}]}]}",
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"cpu\",\"columns\":[\"key\",\"value\"],\"values\":[[\"host\",\"a\"],[\"host\",\"a!\"],[\"host\",\"b\"],[\"host\",\"c\"],[\"region\",\"eu\"],[\"region\",\"us\"]]},{\"name\":\"cpu!\",\"columns\":[\"key\",\"value\"],\"values\":[[\"host\",\"z\"]]},{\"name\":\"cpu-x\",\"columns\":[\"key\",\"value\"],\"values\":[[\"host\",\"q\"]]},{\"name\":\"mem\",\"columns\":[\"key\",\"value\"],\"values\":[[\"host\",\"a\"],[\"host\",\"h3\"]]}]}]}\n",
     NULL},
    {IQL_K_SHOW_TAG_VALUES, "SHOW TAG VALUES ON telegraf WITH KEY =~ /o/", {-1, -1, -1, -1, 0},
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"cpu\",\"columns\":[\"key\",\"value\"],\"values\":[[\"host\",\"a\"],[\"host\",\"a!\"],[\"host\",\"b\"],[\"region\",\"eu\"],[\"region\",\"us\"]]},{\"name\":\"cpu!\",\"columns\":[\"key\",\"value\"],\"values\":[[\"host\",\"z\"]]},{\"name\":\"mem\",\"columns\":[\"key\",\"value\"],\"values\":[[\"host\",\"a\"]]}]}]}",
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"cpu\",\"columns\":[\"key\",\"value\"],\"values\":[[\"host\",\"a\"],[\"host\",\"c\"],[\"region\",\"eu\"],[\"region\",\"us\"]]},{\"name\":\"cpu-x\",\"columns\":[\"key\",\"value\"],\"values\":[[\"host\",\"q\"]]},{\"name\":\"mem\",\"columns\":[\"key\",\"value\"],\"values\":[[\"host\",\"h3\"]]}]}]}",
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"cpu\",\"columns\":[\"key\",\"value\"],\"values\":[[\"host\",\"a\"],[\"host\",\"a!\"],[\"host\",\"b\"],[\"host\",\"c\"],[\"region\",\"eu\"],[\"region\",\"us\"]]},{\"name\":\"cpu!\",\"columns\":[\"key\",\"value\"],\"values\":[[\"host\",\"z\"]]},{\"name\":\"cpu-x\",\"columns\":[\"key\",\"value\"],\"values\":[[\"host\",\"q\"]]},{\"name\":\"mem\",\"columns\":[\"key\",\"value\"],\"values\":[[\"host\",\"a\"],[\"host\",\"h3\"]]}]}]}\n",
     NULL},
    {IQL_K_SHOW_TAG_VALUES, "SHOW TAG VALUES ON telegraf WITH KEY = host LIMIT 1 OFFSET 1", {1, 1, -1, -1, 0},
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"cpu\",\"columns\":[\"key\",\"value\"],\"values\":[[\"host\",\"a\"],[\"host\",\"a!\"],[\"host\",\"b\"]]},{\"name\":\"cpu!\",\"columns\":[\"key\",\"value\"],\"values\":[[\"host\",\"z\"]]},{\"name\":\"mem\",\"columns\":[\"key\",\"value\"],\"values\":[[\"host\",\"a\"]]}]}]}",
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"cpu\",\"columns\":[\"key\",\"value\"],\"values\":[[\"host\",\"a\"],[\"host\",\"c\"]]},{\"name\":\"cpu-x\",\"columns\":[\"key\",\"value\"],\"values\":[[\"host\",\"q\"]]},{\"name\":\"mem\",\"columns\":[\"key\",\"value\"],\"values\":[[\"host\",\"h3\"]]}]}]}",
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"cpu\",\"columns\":[\"key\",\"value\"],\"values\":[[\"host\",\"a!\"]]},{\"name\":\"mem\",\"columns\":[\"key\",\"value\"],\"values\":[[\"host\",\"h3\"]]}]}]}\n",
     NULL},
    {IQL_K_SHOW_TAG_VALUES, "SHOW TAG VALUES ON telegraf WITH KEY IN (host, region) LIMIT 2 OFFSET 1", {2, 1, -1, -1, 0},
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"cpu\",\"columns\":[\"key\",\"value\"],\"values\":[[\"host\",\"a\"],[\"host\",\"a!\"],[\"host\",\"b\"],[\"region\",\"eu\"],[\"region\",\"us\"]]},{\"name\":\"cpu!\",\"columns\":[\"key\",\"value\"],\"values\":[[\"host\",\"z\"]]},{\"name\":\"mem\",\"columns\":[\"key\",\"value\"],\"values\":[[\"host\",\"a\"]]}]}]}",
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"cpu\",\"columns\":[\"key\",\"value\"],\"values\":[[\"host\",\"a\"],[\"host\",\"c\"],[\"region\",\"eu\"],[\"region\",\"us\"]]},{\"name\":\"cpu-x\",\"columns\":[\"key\",\"value\"],\"values\":[[\"host\",\"q\"]]},{\"name\":\"mem\",\"columns\":[\"key\",\"value\"],\"values\":[[\"host\",\"h3\"]]}]}]}",
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"cpu\",\"columns\":[\"key\",\"value\"],\"values\":[[\"host\",\"a!\"],[\"host\",\"b\"]]},{\"name\":\"mem\",\"columns\":[\"key\",\"value\"],\"values\":[[\"host\",\"h3\"]]}]}]}\n",
     NULL},
    {IQL_K_SHOW_TAG_VALUES, "SHOW TAG VALUES ON telegraf WITH KEY = host OFFSET 10", {-1, 10, -1, -1, 0},
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"cpu\",\"columns\":[\"key\",\"value\"],\"values\":[[\"host\",\"a\"],[\"host\",\"a!\"],[\"host\",\"b\"]]},{\"name\":\"cpu!\",\"columns\":[\"key\",\"value\"],\"values\":[[\"host\",\"z\"]]},{\"name\":\"mem\",\"columns\":[\"key\",\"value\"],\"values\":[[\"host\",\"a\"]]}]}]}",
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"cpu\",\"columns\":[\"key\",\"value\"],\"values\":[[\"host\",\"a\"],[\"host\",\"c\"]]},{\"name\":\"cpu-x\",\"columns\":[\"key\",\"value\"],\"values\":[[\"host\",\"q\"]]},{\"name\":\"mem\",\"columns\":[\"key\",\"value\"],\"values\":[[\"host\",\"h3\"]]}]}]}",
     "{\"results\":[{\"statement_id\":0}]}\n",
     NULL},
    {IQL_K_SHOW_TAG_VALUES, "SHOW TAG VALUES ON telegraf WITH KEY = \"page\"", {-1, -1, -1, -1, 0},
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"web\",\"columns\":[\"key\",\"value\"],\"values\":[[\"page\",\"x\\u003cy\\u003e\\u0026z\"]]}]}]}",
     "{\"results\":[{\"statement_id\":0}]}",
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"web\",\"columns\":[\"key\",\"value\"],\"values\":[[\"page\",\"x\\u003cy\\u003e\\u0026z\"]]}]}]}\n",
     NULL},
    {IQL_K_SHOW_TAG_VALUES, "SHOW TAG VALUES ON telegraf WITH KEY = ville", {-1, -1, -1, -1, 0},
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"température\",\"columns\":[\"key\",\"value\"],\"values\":[[\"ville\",\"Zürich\"]]}]}]}",
     "{\"results\":[{\"statement_id\":0}]}",
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"température\",\"columns\":[\"key\",\"value\"],\"values\":[[\"ville\",\"Zürich\"]]}]}]}\n",
     NULL},
    {IQL_K_SHOW_TAG_VALUES, "SHOW TAG VALUES ON telegraf WITH KEY = host WHERE region = 'us'", {-1, -1, -1, -1, 0},
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"cpu\",\"columns\":[\"key\",\"value\"],\"values\":[[\"host\",\"b\"]]}]}]}",
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"cpu\",\"columns\":[\"key\",\"value\"],\"values\":[[\"host\",\"c\"]]}]}]}",
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"cpu\",\"columns\":[\"key\",\"value\"],\"values\":[[\"host\",\"b\"],[\"host\",\"c\"]]}]}]}\n",
     NULL},
    {IQL_K_SHOW_TAG_VALUES, "SHOW TAG VALUES ON alpha WITH KEY = host", {-1, -1, -1, -1, 0},
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"cpu\",\"columns\":[\"key\",\"value\"],\"values\":[[\"host\",\"a2\"]]}]}]}",
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"mem\",\"columns\":[\"key\",\"value\"],\"values\":[[\"host\",\"b2\"]]}]}]}",
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"cpu\",\"columns\":[\"key\",\"value\"],\"values\":[[\"host\",\"a2\"]]},{\"name\":\"mem\",\"columns\":[\"key\",\"value\"],\"values\":[[\"host\",\"b2\"]]}]}]}\n",
     NULL},
    {IQL_K_SHOW_TAG_VALUES, "SHOW TAG VALUES ON zeta WITH KEY = host", {-1, -1, -1, -1, 0},
     "{\"results\":[{\"statement_id\":0,\"error\":\"database not found: zeta\"}]}",
     "{\"results\":[{\"statement_id\":0}]}",
     "{\"results\":[{\"statement_id\":0}]}\n",
     NULL},
    {IQL_K_SHOW_SERIES, "SHOW SERIES ON telegraf", {-1, -1, -1, -1, 0},
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"columns\":[\"key\"],\"values\":[[\"cpu,host=a,region=eu\"],[\"cpu,host=a!,region=eu\"],[\"cpu,host=b,region=us\"],[\"cpu!,host=z\"],[\"disk\\\\ io,path=/dev/sda\"],[\"mem,host=a\"],[\"notags\"],[\"température,ville=Zürich\"],[\"web,page=x\\u003cy\\u003e\\u0026z\"]]}]}]}",
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"columns\":[\"key\"],\"values\":[[\"aaa,k=v\"],[\"cpu,dc=d1,host=c,region=us\"],[\"cpu,host=a,region=eu\"],[\"cpu-x,host=q\"],[\"mem,host=h3\"],[\"net,iface=eth0\"],[\"net,iface=eth1\"]]}]}]}",
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"columns\":[\"key\"],\"values\":[[\"aaa,k=v\"],[\"cpu,dc=d1,host=c,region=us\"],[\"cpu,host=a,region=eu\"],[\"cpu,host=a!,region=eu\"],[\"cpu,host=b,region=us\"],[\"cpu!,host=z\"],[\"cpu-x,host=q\"],[\"disk\\\\ io,path=/dev/sda\"],[\"mem,host=a\"],[\"mem,host=h3\"],[\"net,iface=eth0\"],[\"net,iface=eth1\"],[\"notags\"],[\"température,ville=Zürich\"],[\"web,page=x\\u003cy\\u003e\\u0026z\"]]}]}]}\n",
     "{\n    \"results\": [\n        {\n            \"statement_id\": 0,\n            \"series\": [\n                {\n                    \"columns\": [\n                        \"key\"\n                    ],\n                    \"values\": [\n                        [\n                            \"aaa,k=v\"\n                        ],\n                        [\n                            \"cpu,dc=d1,host=c,region=us\"\n                        ],\n                        [\n                            \"cpu,host=a,region=eu\"\n                        ],\n                        [\n                            \"cpu,host=a!,region=eu\"\n                        ],\n                        [\n                            \"cpu,host=b,region=us\"\n                        ],\n                        [\n                            \"cpu!,host=z\"\n                        ],\n                        [\n                            \"cpu-x,host=q\"\n                        ],\n                        [\n                            \"disk\\\\ io,path=/dev/sda\"\n                        ],\n                        [\n                            \"mem,host=a\"\n                        ],\n                        [\n                            \"mem,host=h3\"\n                        ],\n                        [\n                            \"net,iface=eth0\"\n                        ],\n                        [\n                            \"net,iface=eth1\"\n                        ],\n                        [\n                            \"notags\"\n                        ],\n                        [\n                            \"température,ville=Zürich\"\n                        ],\n                        [\n                            \"web,page=x\\u003cy\\u003e\\u0026z\"\n                        ]\n                    ]\n                }\n            ]\n        }\n    ]\n}\n"},
    {IQL_K_SHOW_SERIES, "SHOW SERIES ON telegraf LIMIT 3 OFFSET 2", {3, 2, -1, -1, 0},
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"columns\":[\"key\"],\"values\":[[\"cpu,host=a,region=eu\"],[\"cpu,host=a!,region=eu\"],[\"cpu,host=b,region=us\"],[\"cpu!,host=z\"],[\"disk\\\\ io,path=/dev/sda\"],[\"mem,host=a\"],[\"notags\"],[\"température,ville=Zürich\"],[\"web,page=x\\u003cy\\u003e\\u0026z\"]]}]}]}",
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"columns\":[\"key\"],\"values\":[[\"aaa,k=v\"],[\"cpu,dc=d1,host=c,region=us\"],[\"cpu,host=a,region=eu\"],[\"cpu-x,host=q\"],[\"mem,host=h3\"],[\"net,iface=eth0\"],[\"net,iface=eth1\"]]}]}]}",
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"columns\":[\"key\"],\"values\":[[\"cpu,host=a,region=eu\"],[\"cpu,host=a!,region=eu\"],[\"cpu,host=b,region=us\"]]}]}]}\n",
     NULL},
    {IQL_K_SHOW_SERIES, "SHOW SERIES ON telegraf LIMIT 1", {1, -1, -1, -1, 0},
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"columns\":[\"key\"],\"values\":[[\"cpu,host=a,region=eu\"],[\"cpu,host=a!,region=eu\"],[\"cpu,host=b,region=us\"],[\"cpu!,host=z\"],[\"disk\\\\ io,path=/dev/sda\"],[\"mem,host=a\"],[\"notags\"],[\"température,ville=Zürich\"],[\"web,page=x\\u003cy\\u003e\\u0026z\"]]}]}]}",
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"columns\":[\"key\"],\"values\":[[\"aaa,k=v\"],[\"cpu,dc=d1,host=c,region=us\"],[\"cpu,host=a,region=eu\"],[\"cpu-x,host=q\"],[\"mem,host=h3\"],[\"net,iface=eth0\"],[\"net,iface=eth1\"]]}]}]}",
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"columns\":[\"key\"],\"values\":[[\"aaa,k=v\"]]}]}]}\n",
     NULL},
    {IQL_K_SHOW_SERIES, "SHOW SERIES ON telegraf OFFSET 100", {-1, 100, -1, -1, 0},
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"columns\":[\"key\"],\"values\":[[\"cpu,host=a,region=eu\"],[\"cpu,host=a!,region=eu\"],[\"cpu,host=b,region=us\"],[\"cpu!,host=z\"],[\"disk\\\\ io,path=/dev/sda\"],[\"mem,host=a\"],[\"notags\"],[\"température,ville=Zürich\"],[\"web,page=x\\u003cy\\u003e\\u0026z\"]]}]}]}",
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"columns\":[\"key\"],\"values\":[[\"aaa,k=v\"],[\"cpu,dc=d1,host=c,region=us\"],[\"cpu,host=a,region=eu\"],[\"cpu-x,host=q\"],[\"mem,host=h3\"],[\"net,iface=eth0\"],[\"net,iface=eth1\"]]}]}]}",
     "{\"results\":[{\"statement_id\":0}]}\n",
     NULL},
    {IQL_K_SHOW_SERIES, "SHOW SERIES ON telegraf WHERE host = 'a'", {-1, -1, -1, -1, 0},
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"columns\":[\"key\"],\"values\":[[\"cpu,host=a,region=eu\"],[\"mem,host=a\"]]}]}]}",
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"columns\":[\"key\"],\"values\":[[\"cpu,host=a,region=eu\"]]}]}]}",
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"columns\":[\"key\"],\"values\":[[\"cpu,host=a,region=eu\"],[\"mem,host=a\"]]}]}]}\n",
     NULL},
    {IQL_K_SHOW_SERIES, "SHOW SERIES ON telegraf WHERE region =~ /u/", {-1, -1, -1, -1, 0},
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"columns\":[\"key\"],\"values\":[[\"cpu,host=a,region=eu\"],[\"cpu,host=a!,region=eu\"],[\"cpu,host=b,region=us\"]]}]}]}",
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"columns\":[\"key\"],\"values\":[[\"cpu,dc=d1,host=c,region=us\"],[\"cpu,host=a,region=eu\"]]}]}]}",
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"columns\":[\"key\"],\"values\":[[\"cpu,dc=d1,host=c,region=us\"],[\"cpu,host=a,region=eu\"],[\"cpu,host=a!,region=eu\"],[\"cpu,host=b,region=us\"]]}]}]}\n",
     NULL},
    {IQL_K_SHOW_SERIES, "SHOW SERIES ON alpha", {-1, -1, -1, -1, 0},
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"columns\":[\"key\"],\"values\":[[\"cpu,host=a2\"]]}]}]}",
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"columns\":[\"key\"],\"values\":[[\"mem,host=b2\"]]}]}]}",
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"columns\":[\"key\"],\"values\":[[\"cpu,host=a2\"],[\"mem,host=b2\"]]}]}]}\n",
     NULL},
    {IQL_K_SHOW_SERIES, "SHOW SERIES ON zeta", {-1, -1, -1, -1, 0},
     "{\"results\":[{\"statement_id\":0,\"error\":\"database not found: zeta\"}]}",
     "{\"results\":[{\"statement_id\":0}]}",
     "{\"results\":[{\"statement_id\":0}]}\n",
     NULL},
};
/* clang-format on */

/* Multi-statement request "SELECT * FROM cpu; SHOW TAG KEYS; SELECT count(usage), mean(usage) FROM cpu;
 * SELECT * FROM web; SHOW RETENTION POLICIES ON nope" (db=telegraf) to server a: each statement alone,
 * and the whole request compact and pretty. */
/* clang-format off */
static const char *const multi_parts[] = {
    "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"cpu\",\"columns\":[\"time\",\"count\",\"host\",\"region\",\"usage\"],\"values\":[[\"1970-01-01T00:00:01Z\",4,\"a!\",\"eu\",2.5],[\"1970-01-01T00:00:01Z\",null,\"b\",\"us\",0.5],[\"1970-01-01T00:00:01Z\",3,\"a\",\"eu\",1.5]]}]}]}",
    "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"cpu\",\"columns\":[\"tagKey\"],\"values\":[[\"host\"],[\"region\"]]},{\"name\":\"cpu!\",\"columns\":[\"tagKey\"],\"values\":[[\"host\"]]},{\"name\":\"disk io\",\"columns\":[\"tagKey\"],\"values\":[[\"path\"]]},{\"name\":\"mem\",\"columns\":[\"tagKey\"],\"values\":[[\"host\"]]},{\"name\":\"température\",\"columns\":[\"tagKey\"],\"values\":[[\"ville\"]]},{\"name\":\"web\",\"columns\":[\"tagKey\"],\"values\":[[\"page\"]]}]}]}",
    "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"cpu\",\"columns\":[\"time\",\"count\",\"mean\"],\"values\":[[\"1970-01-01T00:00:00Z\",3,1.5]]}]}]}",
    "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"web\",\"columns\":[\"time\",\"hits\",\"page\"],\"values\":[[\"1970-01-01T00:00:01Z\",1,\"x\\u003cy\\u003e\\u0026z\"]]}]}]}",
    "{\"results\":[{\"statement_id\":0,\"error\":\"database not found: nope\"}]}",
};
static const char multi_whole[] = "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"cpu\",\"columns\":[\"time\",\"count\",\"host\",\"region\",\"usage\"],\"values\":[[\"1970-01-01T00:00:01Z\",4,\"a!\",\"eu\",2.5],[\"1970-01-01T00:00:01Z\",null,\"b\",\"us\",0.5],[\"1970-01-01T00:00:01Z\",3,\"a\",\"eu\",1.5]]}]},{\"statement_id\":1,\"series\":[{\"name\":\"cpu\",\"columns\":[\"tagKey\"],\"values\":[[\"host\"],[\"region\"]]},{\"name\":\"cpu!\",\"columns\":[\"tagKey\"],\"values\":[[\"host\"]]},{\"name\":\"disk io\",\"columns\":[\"tagKey\"],\"values\":[[\"path\"]]},{\"name\":\"mem\",\"columns\":[\"tagKey\"],\"values\":[[\"host\"]]},{\"name\":\"température\",\"columns\":[\"tagKey\"],\"values\":[[\"ville\"]]},{\"name\":\"web\",\"columns\":[\"tagKey\"],\"values\":[[\"page\"]]}]},{\"statement_id\":2,\"series\":[{\"name\":\"cpu\",\"columns\":[\"time\",\"count\",\"mean\"],\"values\":[[\"1970-01-01T00:00:00Z\",3,1.5]]}]},{\"statement_id\":3,\"series\":[{\"name\":\"web\",\"columns\":[\"time\",\"hits\",\"page\"],\"values\":[[\"1970-01-01T00:00:01Z\",1,\"x\\u003cy\\u003e\\u0026z\"]]}]},{\"statement_id\":4,\"error\":\"database not found: nope\"}]}\n";
static const char multi_whole_pretty[] = "{\n    \"results\": [\n        {\n            \"statement_id\": 0,\n            \"series\": [\n                {\n                    \"name\": \"cpu\",\n                    \"columns\": [\n                        \"time\",\n                        \"count\",\n                        \"host\",\n                        \"region\",\n                        \"usage\"\n                    ],\n                    \"values\": [\n                        [\n                            \"1970-01-01T00:00:01Z\",\n                            4,\n                            \"a!\",\n                            \"eu\",\n                            2.5\n                        ],\n                        [\n                            \"1970-01-01T00:00:01Z\",\n                            null,\n                            \"b\",\n                            \"us\",\n                            0.5\n                        ],\n                        [\n                            \"1970-01-01T00:00:01Z\",\n                            3,\n                            \"a\",\n                            \"eu\",\n                            1.5\n                        ]\n                    ]\n                }\n            ]\n        },\n        {\n            \"statement_id\": 1,\n            \"series\": [\n                {\n                    \"name\": \"cpu\",\n                    \"columns\": [\n                        \"tagKey\"\n                    ],\n                    \"values\": [\n                        [\n                            \"host\"\n                        ],\n                        [\n                            \"region\"\n                        ]\n                    ]\n                },\n                {\n                    \"name\": \"cpu!\",\n                    \"columns\": [\n                        \"tagKey\"\n                    ],\n                    \"values\": [\n                        [\n                            \"host\"\n                        ]\n                    ]\n                },\n                {\n                    \"name\": \"disk io\",\n                    \"columns\": [\n                        \"tagKey\"\n                    ],\n                    \"values\": [\n                        [\n                            \"path\"\n                        ]\n                    ]\n                },\n                {\n                    \"name\": \"mem\",\n                    \"columns\": [\n                        \"tagKey\"\n                    ],\n                    \"values\": [\n                        [\n                            \"host\"\n                        ]\n                    ]\n                },\n                {\n                    \"name\": \"température\",\n                    \"columns\": [\n                        \"tagKey\"\n                    ],\n                    \"values\": [\n                        [\n                            \"ville\"\n                        ]\n                    ]\n                },\n                {\n                    \"name\": \"web\",\n                    \"columns\": [\n                        \"tagKey\"\n                    ],\n                    \"values\": [\n                        [\n                            \"page\"\n                        ]\n                    ]\n                }\n            ]\n        },\n        {\n            \"statement_id\": 2,\n            \"series\": [\n                {\n                    \"name\": \"cpu\",\n                    \"columns\": [\n                        \"time\",\n                        \"count\",\n                        \"mean\"\n                    ],\n                    \"values\": [\n                        [\n                            \"1970-01-01T00:00:00Z\",\n                            3,\n                            1.5\n                        ]\n                    ]\n                }\n            ]\n        },\n        {\n            \"statement_id\": 3,\n            \"series\": [\n                {\n                    \"name\": \"web\",\n                    \"columns\": [\n                        \"time\",\n                        \"hits\",\n                        \"page\"\n                    ],\n                    \"values\": [\n                        [\n                            \"1970-01-01T00:00:01Z\",\n                            1,\n                            \"x\\u003cy\\u003e\\u0026z\"\n                        ]\n                    ]\n                }\n            ]\n        },\n        {\n            \"statement_id\": 4,\n            \"error\": \"database not found: nope\"\n        }\n    ]\n}\n";
/* clang-format on */
#define NPARTS (sizeof(multi_parts) / sizeof(multi_parts[0]))

static qm_body_t body(const char *name, const char *s)
{
    qm_body_t b = {name, s, s != NULL ? strlen(s) : 0, NULL};
    return b;
}

static qm_body_t down(const char *name, const char *reason)
{
    qm_body_t b = {name, NULL, 0, reason};
    return b;
}

/* Merges, then assembles the one result as influxd would send it; returns the malloc'ed body. */
static char *merge_body(iql_kind_t kind, const qm_body_t *bodies, size_t n, const qm_paging_t *pg, int pretty)
{
    qm_buf_t r, whole;
    char err[256];
    int ret = qm_merge_show(kind, bodies, n, pg, 0, MAXOUT, &r, err, sizeof(err));
    if (ret != QM_OK)
        fail_msg("merge failed: %s (%s)", qm_strerror(ret), err);
    assert_int_equal(strlen(r.ptr), r.len);
    ret = qm_assemble(&r, 1, pretty, MAXOUT, &whole, err, sizeof(err));
    assert_int_equal(ret, QM_OK);
    free(r.ptr);
    return whole.ptr;
}

static char *merge_result(iql_kind_t kind, const qm_body_t *bodies, size_t n, int statement_id, int expect)
{
    qm_buf_t r = {(char *)"x", 1};
    char err[256] = "";
    int ret = qm_merge_show(kind, bodies, n, NULL, statement_id, MAXOUT, &r, err, sizeof(err));
    assert_int_equal(ret, expect);
    if (ret != QM_OK) {
        assert_null(r.ptr);
        assert_true(err[0] != '\0');
        return strdup(err);
    }
    return r.ptr;
}

static void check_str(const char *got, const char *want, const char *what)
{
    if (strcmp(got, want) != 0)
        fail_msg("%s\n got: %s\nwant: %s", what, got, want);
}

static void test_recorded_union(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(recorded) / sizeof(recorded[0]); i++) {
        const rec_t *c = &recorded[i];
        qm_body_t bodies[2] = {body("a", c->a), body("b", c->b)};
        char *got = merge_body(c->kind, bodies, 2, &c->paging, 0);
        check_str(got, c->u, c->stmt);
        free(got);
        if (c->pretty != NULL) {
            got = merge_body(c->kind, bodies, 2, &c->paging, 1);
            check_str(got, c->pretty, c->stmt);
            free(got);
        }
    }
}

/* Sorted kinds do not depend on which backend answered first. */
static void test_recorded_swapped(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(recorded) / sizeof(recorded[0]); i++) {
        const rec_t *c = &recorded[i];
        if (c->kind == IQL_K_SHOW_DATABASES || c->kind == IQL_K_SHOW_RETENTION_POLICIES)
            continue;
        qm_body_t bodies[2] = {body("b", c->b), body("a", c->a)};
        if (strstr(c->a, "\"error\"") != NULL && strstr(c->b, "\"error\"") != NULL)
            continue; /* every answer an error: the first one wins, checked elsewhere */
        char *got = merge_body(c->kind, bodies, 2, &c->paging, 0);
        check_str(got, c->u, c->stmt);
        free(got);
    }
}

/* One backend's answer merged alone comes out exactly as that backend wrote it. */
static void test_recorded_identity(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(recorded) / sizeof(recorded[0]); i++) {
        const rec_t *c = &recorded[i];
        const char *parts[2] = {c->a, c->b};
        for (int j = 0; j < 2; j++) {
            qm_body_t one = body("x", parts[j]);
            char *got = merge_body(c->kind, &one, 1, NULL, 0);
            size_t n = strlen(parts[j]);
            assert_int_equal(strlen(got), n + 1);
            assert_memory_equal(got, parts[j], n);
            assert_int_equal(got[n], '\n');
            free(got);
        }
    }
}

static const rec_t *find_rec(const char *stmt)
{
    for (size_t i = 0; i < sizeof(recorded) / sizeof(recorded[0]); i++)
        if (strcmp(recorded[i].stmt, stmt) == 0)
            return &recorded[i];
    fail_msg("no recording for %s", stmt);
    return NULL;
}

/* A backend that did not answer (or sent garbage) is left out when another one answered. */
static void test_partial_failures(void **state)
{
    (void)state;
    const rec_t *c = find_rec("SHOW MEASUREMENTS ON telegraf");
    const char *bads[] = {
        "",
        "{",
        "<html>502 Bad Gateway</html>",
        "{\"results\":[{\"statement_id\":0,\"series\":7}]}",
        "{\"results\":[{\"series\":[{\"name\":\"measurements\",\"values\":[[\"x\"]]}]}]}",
        "{\"results\":[{\"series\":[{\"name\":\"measurements\",\"columns\":[\"name\"],\"values\":[7]}]}]}",
        "[1,2,3]",
        "null",
        "{\"results\":[]}",
        "{\"results\":[{\"statement_id\":0}]} trailing"};
    qm_body_t only_b = body("b", c->b);
    char *want = merge_body(c->kind, &only_b, 1, NULL, 0);
    for (size_t i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
        qm_body_t bodies[3] = {down("a", "connection refused"), body("c", bads[i]), body("b", c->b)};
        char *got = merge_body(c->kind, bodies, 3, NULL, 0);
        check_str(got, want, bads[i]);
        free(got);
    }
    free(want);
}

static void test_errors(void **state)
{
    (void)state;
    qm_body_t nf[3] = {body("a", "{\"results\":[{\"statement_id\":0,\"error\":\"database not found: x\"}]}"),
                       body("b", "{\"results\":[{\"statement_id\":0,\"error\":\"database not found: y\"}]}"),
                       down("c", "timeout")};
    char *got = merge_result(IQL_K_SHOW_RETENTION_POLICIES, nf, 3, 4, QM_OK);
    check_str(got, "{\"statement_id\":4,\"error\":\"database not found: x\"}", "first error");
    free(got);

    /* A top-level error (query not parsed, bad credentials) is an error answer too. */
    qm_body_t top[2] = {down("a", "connection refused"), body("b", "{\"error\":\"authorization failed\"}")};
    got = merge_result(IQL_K_SHOW_SERIES, top, 2, 1, QM_OK);
    check_str(got, "{\"statement_id\":1,\"error\":\"authorization failed\"}", "top-level error");
    free(got);

    /* An error answer next to a good one is left out. */
    qm_body_t mixed[2] = {nf[0], body("b", "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"measurements\","
                                           "\"columns\":[\"name\"],\"values\":[[\"m\"]]}]}]}")};
    got = merge_result(IQL_K_SHOW_MEASUREMENTS, mixed, 2, 2, QM_OK);
    check_str(
        got,
        "{\"statement_id\":2,\"series\":[{\"name\":\"measurements\",\"columns\":[\"name\"],\"values\":[[\"m\"]]}]}",
        "error left out");
    free(got);
}

static void test_nobody_answered(void **state)
{
    (void)state;
    qm_body_t all[3] = {down("b1", "connection refused"), down("b2", "timeout after 600000 ms"), down(NULL, NULL)};
    char *got = merge_result(IQL_K_SHOW_DATABASES, all, 3, 0, QM_OK);
    check_str(got,
              "{\"statement_id\":0,\"error\":\"backend b1: connection refused; backend b2: timeout after 600000 ms; "
              "backend ?: no answer\"}",
              "all down");
    free(got);

    /* Garbage with nothing else: the caller answers 502 with the message. */
    qm_body_t garbage[2] = {down("b1", "connection refused"), body("b2", "{\"results\":")};
    got = merge_result(IQL_K_SHOW_MEASUREMENTS, garbage, 2, 0, QM_EJSON);
    assert_non_null(strstr(got, "backend b1: connection refused; backend b2: invalid JSON response"));
    free(got);
    qm_body_t shape[1] = {body("b3", "{\"results\":[{\"series\":{}}]}")};
    got = merge_result(IQL_K_SHOW_MEASUREMENTS, shape, 1, 0, QM_EJSON);
    check_str(got, "backend b3: unexpected JSON response", "bad shape");
    free(got);
}

static void test_empty(void **state)
{
    (void)state;
    static const iql_kind_t kinds[] = {IQL_K_SHOW_MEASUREMENTS, IQL_K_SHOW_TAG_KEYS, IQL_K_SHOW_FIELD_KEYS,
                                       IQL_K_SHOW_TAG_VALUES,   IQL_K_SHOW_SERIES,   IQL_K_SHOW_RETENTION_POLICIES};
    qm_body_t e[2] = {body("a", "{\"results\":[{\"statement_id\":0}]}"),
                      body("b", "{\"results\":[{\"statement_id\":0}]}")};
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        char *got = merge_result(kinds[i], e, 2, 7, QM_OK);
        check_str(got, "{\"statement_id\":7}", "empty");
        free(got);
    }
    /* influxd lists an empty databases series; so does the merge. */
    const char *nodb =
        "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"databases\",\"columns\":[\"name\"]}]}]}";
    qm_body_t d[2] = {body("a", nodb), body("b", nodb)};
    char *got = merge_result(IQL_K_SHOW_DATABASES, d, 2, 0, QM_OK);
    check_str(got, "{\"statement_id\":0,\"series\":[{\"name\":\"databases\",\"columns\":[\"name\"]}]}", "no databases");
    free(got);
    /* Paging past the end of a series drops it. */
    const rec_t *c = find_rec("SHOW TAG KEYS ON telegraf");
    qm_body_t tk[2] = {body("a", c->a), body("b", c->b)};
    qm_paging_t far = {-1, 1000, -1, -1, 0};
    char *whole = merge_body(c->kind, tk, 2, &far, 0);
    check_str(whole, "{\"results\":[{\"statement_id\":0}]}\n", "offset beyond every series");
    free(whole);
}

static void test_databases_order(void **state)
{
    (void)state;
    qm_body_t d[3] = {body("a", "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"databases\",\"columns\":"
                                "[\"name\"],\"values\":[[\"z\"],[\"b\"]]}]}]}"),
                      body("b", "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"databases\",\"columns\":"
                                "[\"name\"],\"values\":[[\"y\"],[\"z\"],[\"a\"],[\"b\"]]}]}]}"),
                      body("c", "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"databases\",\"columns\":"
                                "[\"name\"],\"values\":[[\"c\"],[\"a\"]]}]}]}")};
    char *got = merge_result(IQL_K_SHOW_DATABASES, d, 3, 0, QM_OK);
    check_str(got,
              "{\"statement_id\":0,\"series\":[{\"name\":\"databases\",\"columns\":[\"name\"],\"values\":"
              "[[\"z\"],[\"b\"],[\"y\"],[\"a\"],[\"c\"]]}]}",
              "creation order");
    free(got);
}

/* Field types, the first backend's type of a conflicting field wins; values encoded as Go does. */
static void test_encoding(void **state)
{
    (void)state;
    qm_body_t f[2] = {
        body("a", "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"m\",\"columns\":[\"fieldKey\","
                  "\"fieldType\"],\"values\":[[\"x\",\"float\"]]}]}]}"),
        body("b", "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"m\",\"columns\":[\"fieldKey\","
                  "\"fieldType\"],\"values\":[[\"x\",\"integer\"],[\"a\",\"string\"]]}]}]}")};
    char *got = merge_result(IQL_K_SHOW_FIELD_KEYS, f, 2, 0, QM_OK);
    check_str(got,
              "{\"statement_id\":0,\"series\":[{\"name\":\"m\",\"columns\":[\"fieldKey\",\"fieldType\"],\"values\":"
              "[[\"a\",\"string\"],[\"x\",\"float\"]]}]}",
              "field type conflict");
    free(got);

    qm_body_t v[1] = {body("a",
                           "{\"results\":[{\"statement_id\":0,\"series\":[{\"columns\":[\"name\",\"v\"],\"values\":"
                           "[[\"a\\u0001\\b\\t\\u2028<>&\\\"\\\\\\/é\",1.0,0.1,1e-7,1e21,123456789.25,-0.000001,"
                           "2.5e-6,100,-3,true,false,null,[],{\"k\":\"v\"},1.5e300,0]]}]}]}")};
    got = merge_result(IQL_K_SHOW_RETENTION_POLICIES, v, 1, 0, QM_OK);
    check_str(got,
              "{\"statement_id\":0,\"series\":[{\"columns\":[\"name\",\"v\"],\"values\":[[\"a\\u0001\\u0008\\t"
              "\\u2028\\u003c\\u003e\\u0026\\\"\\\\/é\",1,0.1,1e-7,1e+21,123456789.25,-0.000001,0.0000025,100,-3,"
              "true,false,null,[],{\"k\":\"v\"},1.5e+300,0]]}]}",
              "Go encoding");
    free(got);
}

/* A SELECT answer recorded from influxd 1.6.7 (control characters, DEL, U+2028 and floats at the edges
 * of Go's notation switch), re-encoded by the merge's encoder, is unchanged. */
static void test_encoding_recorded(void **state)
{
    (void)state;
    static const char rec[] =
        "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"esc\",\"columns\":[\"time\",\"f\",\"g\",\"h\",\"i\","
        "\"j\",\"s\",\"t\"],\"values\":[[\"1970-01-01T00:00:01Z\",0.000001,1e+21,1.5e-7,123456789.25,-0.1,\"x\\u0001y"
        "\\u0008z\177\\u2028w\\u001f\\ttab\",\"a b\"]]}]}]}";
    qm_body_t one = body("a", rec);
    char *got = merge_body(IQL_K_SHOW_RETENTION_POLICIES, &one, 1, NULL, 0);
    assert_int_equal(strlen(got), sizeof(rec));
    assert_memory_equal(got, rec, sizeof(rec) - 1);
    free(got);
}

/* Series keys sort by measurement and tag by tag, escapes resolved. */
static void test_series_order(void **state)
{
    (void)state;
    qm_body_t s[2] = {body("a", "{\"results\":[{\"statement_id\":0,\"series\":[{\"columns\":[\"key\"],\"values\":"
                                "[[\"cpu,host=a!\"],[\"cpu\\\\ x\"],[\"cpu\"]]}]}]}"),
                      body("b", "{\"results\":[{\"statement_id\":0,\"series\":[{\"columns\":[\"key\"],\"values\":"
                                "[[\"cpu,host=a,r=1\"],[\"cpu!\"],[\"cpu,host=a\"],[\"cpu\"],[\"cpu\\\\,y\"]]}]}]}")};
    char *got = merge_result(IQL_K_SHOW_SERIES, s, 2, 0, QM_OK);
    check_str(got,
              "{\"statement_id\":0,\"series\":[{\"columns\":[\"key\"],\"values\":[[\"cpu\"],[\"cpu,host=a\"],"
              "[\"cpu,host=a,r=1\"],[\"cpu,host=a!\"],[\"cpu\\\\ x\"],[\"cpu!\"],[\"cpu\\\\,y\"]]}]}",
              "series order");
    free(got);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    qm_body_t one = body("a", "{\"results\":[{\"statement_id\":0}]}");
    char *got = merge_result(IQL_K_SHOW_DATABASES, &one, 0, 0, QM_EINVAL);
    free(got);
    got = merge_result(IQL_K_SELECT, &one, 1, 0, QM_EINVAL);
    free(got);
    got = merge_result(IQL_K_SHOW_CARDINALITY, &one, 1, 0, QM_EINVAL);
    free(got);
}

static void test_too_big(void **state)
{
    (void)state;
    const rec_t *c = find_rec("SHOW SERIES ON telegraf");
    qm_body_t bodies[2] = {body("a", c->a), body("b", c->b)};
    qm_buf_t r = {NULL, 0}, parts[1];
    char err[128];
    size_t full = strlen(c->u) - strlen("{\"results\":[]}\n");
    assert_int_equal(qm_merge_show(c->kind, bodies, 2, NULL, 0, full - 1, &r, err, sizeof(err)), QM_ETOOBIG);
    assert_null(r.ptr);
    assert_int_equal(qm_merge_show(c->kind, bodies, 2, NULL, 0, full, &r, err, sizeof(err)), QM_OK);
    assert_int_equal(r.len, full);
    parts[0] = r;
    assert_int_equal(qm_assemble(parts, 1, 0, strlen(c->u) - 1, &r, err, sizeof(err)), QM_ETOOBIG);
    assert_int_equal(qm_assemble(parts, 1, 1, strlen(c->u), &r, err, sizeof(err)), QM_ETOOBIG);
    assert_int_equal(qm_assemble(parts, 1, 0, strlen(c->u), &r, err, sizeof(err)), QM_OK);
    check_str(r.ptr, c->u, "cap exactly met");
    free(r.ptr);
    assert_int_equal(qm_extract(c->a, strlen(c->a), 0, 0, 10, &r, err, sizeof(err)), QM_ETOOBIG);
    assert_int_equal(qm_error_result(0, "x", 10, &r), QM_ETOOBIG);
    free(parts[0].ptr);
}

/* Statements answered one by one, renumbered and assembled, read as the whole request's answer. */
static void test_extract_assemble(void **state)
{
    (void)state;
    qm_buf_t res[NPARTS], whole;
    char err[128];
    for (size_t pretty = 0; pretty < 2; pretty++) {
        for (size_t i = 0; i < NPARTS; i++)
            assert_int_equal(
                qm_extract(multi_parts[i], strlen(multi_parts[i]), 0, (int)i, MAXOUT, &res[i], err, sizeof(err)),
                QM_OK);
        assert_int_equal(qm_assemble(res, NPARTS, (int)pretty, MAXOUT, &whole, err, sizeof(err)), QM_OK);
        check_str(whole.ptr, pretty ? multi_whole_pretty : multi_whole, "assembled");
        free(whole.ptr);
        for (size_t i = 0; i < NPARTS; i++)
            free(res[i].ptr);
    }
    /* Cutting results out of the whole body (pretty or not) gives the same results. */
    const char *srcs[] = {multi_whole, multi_whole_pretty};
    for (size_t s = 0; s < 2; s++) {
        for (size_t i = 0; i < NPARTS; i++)
            assert_int_equal(qm_extract(srcs[s], strlen(srcs[s]), i, (int)i, MAXOUT, &res[i], err, sizeof(err)), QM_OK);
        assert_int_equal(qm_assemble(res, NPARTS, 0, MAXOUT, &whole, err, sizeof(err)), QM_OK);
        check_str(whole.ptr, multi_whole, "re-cut");
        free(whole.ptr);
        for (size_t i = 0; i < NPARTS; i++)
            free(res[i].ptr);
    }
    assert_int_equal(qm_extract(multi_whole, strlen(multi_whole), NPARTS, 0, MAXOUT, &whole, err, sizeof(err)),
                     QM_ERANGE);
    assert_null(whole.ptr);
    assert_non_null(strstr(err, "has 5 results"));
}

static void test_extract_cases(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        size_t index;
        int ret;
        const char *out;
    } cases[] = {
        {"{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"m\",\"columns\":[\"time\",\"v\"],\"values\":"
         "[[0,18446744073709551615],[1,1.0e-7]]}]}]}",
         0, QM_OK,
         "{\"statement_id\":9,\"series\":[{\"name\":\"m\",\"columns\":[\"time\",\"v\"],\"values\":"
         "[[0,18446744073709551615],[1,1.0e-7]]}]}"},
        {"{\"error\":\"error parsing query: found EOF, expected FROM at line 1, char 9\"}", 3, QM_OK,
         "{\"statement_id\":9,\"error\":\"error parsing query: found EOF, expected FROM at line 1, char 9\"}"},
        {" { \"results\" : [ {\"series\":[], \"statement_id\" : 4, \"messages\":[{\"level\":\"warning\",\"text\":\"a "
         "b\"}]} ] } ",
         0, QM_OK, "{\"statement_id\":9,\"series\":[],\"messages\":[{\"level\":\"warning\",\"text\":\"a b\"}]}"},
        {"{\"results\":[{}]}", 0, QM_OK, "{\"statement_id\":9}"},
        {"{\"results\":[]}", 0, QM_ERANGE, NULL},
        {"{\"results\":[{\"statement_id\":0}]}", 1, QM_ERANGE, NULL},
        {"{}", 0, QM_ERANGE, NULL},
        {"{\"results\":[7]}", 0, QM_EJSON, NULL},
        {"", 0, QM_EJSON, NULL},
        {"[]", 0, QM_EJSON, NULL},
        {"{\"results\":[{\"statement_id\":0}]", 0, QM_EJSON, NULL},
        {"{\"results\":[{\"statement_id\":0}]}x", 0, QM_EJSON, NULL},
        {"{\"results\":[{\"statement_id\":0,}]}", 0, QM_EJSON, NULL},
        {"{\"results\":[{\"statement_id\":0 \"a\":1}]}", 0, QM_EJSON, NULL},
        {"{\"results\":[{\"a\":\"\\x\"}]}", 0, QM_EJSON, NULL},
        {"{\"results\":[{\"a\":\"\\u12\"}]}", 0, QM_EJSON, NULL},
        {"{\"results\":[{\"a\":\"tab\there\"}]}", 0, QM_EJSON, NULL},
        {"{\"results\":[{\"a\":01}]}", 0, QM_EJSON, NULL},
        {"{\"results\":[{\"a\":1.}]}", 0, QM_EJSON, NULL},
        {"{\"results\":[{\"a\":-}]}", 0, QM_EJSON, NULL},
        {"{\"results\":[{\"a\":1e}]}", 0, QM_EJSON, NULL},
        {"{\"results\":[{\"a\":tru}]}", 0, QM_EJSON, NULL},
        {"{\"results\":[{\"a\":[1,]}]}", 0, QM_EJSON, NULL},
        {"{\"results\":[{\"a\":\"unterminated}]}", 0, QM_EJSON, NULL},
        {"{\"results\":[{1:2}]}", 0, QM_EJSON, NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        qm_buf_t out = {(char *)"x", 1};
        char err[128] = "";
        int ret = qm_extract(cases[i].in, strlen(cases[i].in), cases[i].index, 9, MAXOUT, &out, err, sizeof(err));
        if (ret != cases[i].ret)
            fail_msg("case %zu: %d, want %d (%s)", i, ret, cases[i].ret, err);
        if (ret == QM_OK) {
            check_str(out.ptr, cases[i].out, cases[i].in);
            free(out.ptr);
        } else {
            assert_null(out.ptr);
            assert_true(err[0] != '\0');
        }
    }
}

/* Nesting deeper than the scanner accepts is refused, not a stack overflow; a body cut anywhere is refused. */
static void test_extract_hostile(void **state)
{
    (void)state;
    size_t depth = 100000;
    char *deep = malloc(2 * depth + 32);
    qm_buf_t out;
    char err[128];
    size_t n = (size_t)sprintf(deep, "{\"results\":[");
    for (size_t i = 0; i < depth; i++)
        deep[n++] = '[';
    for (size_t i = 0; i < depth; i++)
        deep[n++] = ']';
    n += (size_t)sprintf(deep + n, "]}");
    assert_int_equal(qm_extract(deep, n, 0, 0, MAXOUT, &out, err, sizeof(err)), QM_EJSON);
    qm_body_t b = body("a", deep);
    char *msg = merge_result(IQL_K_SHOW_MEASUREMENTS, &b, 1, 0, QM_EJSON);
    free(msg);
    free(deep);

    for (size_t cut = 0; cut < strlen(multi_whole) - 1; cut++) {
        int ret = qm_extract(multi_whole, cut, 0, 0, MAXOUT, &out, err, sizeof(err));
        if (ret == QM_OK)
            fail_msg("body cut at %zu accepted", cut);
    }
}

static void test_assemble_cases(void **state)
{
    (void)state;
    qm_buf_t out, r[2];
    char err[128];
    assert_int_equal(qm_assemble(NULL, 0, 0, MAXOUT, &out, err, sizeof(err)), QM_OK);
    check_str(out.ptr, "{\"results\":[]}\n", "no results");
    free(out.ptr);
    assert_int_equal(qm_assemble(NULL, 0, 1, MAXOUT, &out, err, sizeof(err)), QM_OK);
    check_str(out.ptr, "{\n    \"results\": []\n}\n", "no results, pretty");
    free(out.ptr);

    assert_int_equal(qm_error_result(3, "backend b1: connection refused <x>", MAXOUT, &r[0]), QM_OK);
    check_str(r[0].ptr, "{\"statement_id\":3,\"error\":\"backend b1: connection refused \\u003cx\\u003e\"}", "error");
    r[1].ptr = (char *)"{\"statement_id\":4,\"series\":[{\"columns\":[\"a\"],\"values\":[[{}]]}]}";
    r[1].len = strlen(r[1].ptr);
    assert_int_equal(qm_assemble(r, 2, 1, MAXOUT, &out, err, sizeof(err)), QM_OK);
    check_str(out.ptr,
              "{\n    \"results\": [\n        {\n            \"statement_id\": 3,\n            \"error\": "
              "\"backend b1: connection refused \\u003cx\\u003e\"\n        },\n        {\n            "
              "\"statement_id\": 4,\n            \"series\": [\n                {\n                    \"columns\": "
              "[\n                        \"a\"\n                    ],\n                    \"values\": [\n       "
              "                 [\n                            {}\n                        ]\n                    ]\n"
              "                }\n            ]\n        }\n    ]\n}\n",
              "pretty");
    free(out.ptr);
    static const char *const bad[] = {"", "[1]", "{\"a\":1", "{\"a\":1}x", "\"s\""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        r[1].ptr = (char *)bad[i];
        r[1].len = strlen(bad[i]);
        assert_int_equal(qm_assemble(r, 2, 0, MAXOUT, &out, err, sizeof(err)), QM_EJSON);
        assert_null(out.ptr);
    }
    free(r[0].ptr);
    assert_string_equal(qm_strerror(QM_ETOOBIG), "response too large");
}

/* chunked=true, as influxd 1.6.7 answered the union of these two (recorded): SHOW TAG KEYS one object per series;
 * SHOW FIELD KEYS and SERIES in pieces of chunk_size rows with "partial" flags; SHOW MEASUREMENTS one object. */
static void test_chunked(void **state)
{
    (void)state;
    static const struct {
        iql_kind_t kind;
        int64_t chunk_size;
        const char *a, *b, *want;
    } cases[] = {
        {IQL_K_SHOW_TAG_KEYS, 2,
         "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"a\",\"columns\":[\"tagKey\"],\"values\":[[\"t\"],["
         "\"u\"]]}]}]}",
         "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"b\",\"columns\":[\"tagKey\"],\"values\":[[\"t\"]]}]"
         "}]}",
         "{\"statement_id\":0,\"series\":[{\"name\":\"a\",\"columns\":[\"tagKey\"],\"values\":[[\"t\"],[\"u\"]]}]}\n"
         "{\"statement_id\":0,\"series\":[{\"name\":\"b\",\"columns\":[\"tagKey\"],\"values\":[[\"t\"]]}]}"},
        {IQL_K_SHOW_FIELD_KEYS, 2,
         "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"a\",\"columns\":[\"fieldKey\",\"fieldType\"],"
         "\"values\":[[\"v\",\"float\"],[\"w\",\"integer\"]]}]}]}",
         "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"c\",\"columns\":[\"fieldKey\",\"fieldType\"],"
         "\"values\":[[\"q\",\"float\"]]}]}]}",
         "{\"statement_id\":0,\"series\":[{\"name\":\"a\",\"columns\":[\"fieldKey\",\"fieldType\"],\"values\":[[\"v\","
         "\"float\"],[\"w\",\"integer\"]]}],\"partial\":true}\n"
         "{\"statement_id\":0,\"series\":[{\"name\":\"c\",\"columns\":[\"fieldKey\",\"fieldType\"],\"values\":[[\"q\","
         "\"float\"]]}]}"},
        {IQL_K_SHOW_SERIES, 2,
         "{\"results\":[{\"statement_id\":0,\"series\":[{\"columns\":[\"key\"],\"values\":[[\"a,t=1,u=x\"],[\"a,t=3\"],"
         "[\"c,z=1\"]]}]}]}",
         "{\"results\":[{\"statement_id\":0,\"series\":[{\"columns\":[\"key\"],\"values\":[[\"a,t=2\"],[\"b,t=1\"]]}]}]"
         "}",
         "{\"statement_id\":0,\"series\":[{\"columns\":[\"key\"],\"values\":[[\"a,t=1,u=x\"],[\"a,t=2\"]],\"partial\":"
         "true}],\"partial\":true}\n"
         "{\"statement_id\":0,\"series\":[{\"columns\":[\"key\"],\"values\":[[\"a,t=3\"],[\"b,t=1\"]],\"partial\":true}"
         "],\"partial\":true}\n"
         "{\"statement_id\":0,\"series\":[{\"columns\":[\"key\"],\"values\":[[\"c,z=1\"]]}]}"},
        {IQL_K_SHOW_MEASUREMENTS, 1,
         "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"measurements\",\"columns\":[\"name\"],\"values\":[["
         "\"a\"]]}]}]}",
         "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"measurements\",\"columns\":[\"name\"],\"values\":[["
         "\"b\"]]}]}]}",
         "{\"statement_id\":0,\"series\":[{\"name\":\"measurements\",\"columns\":[\"name\"],\"values\":[[\"a\"],[\"b\"]"
         "]}]}"},
        {IQL_K_SHOW_SERIES, 2, "{\"results\":[{\"statement_id\":0}]}", "{\"results\":[{\"statement_id\":0}]}",
         "{\"statement_id\":0}"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        qm_body_t b[2] = {body("a", cases[i].a), body("b", cases[i].b)};
        qm_paging_t pg = {-1, -1, -1, -1, cases[i].chunk_size};
        qm_buf_t r;
        char err[256];
        assert_int_equal(qm_merge_show(cases[i].kind, b, 2, &pg, 0, MAXOUT, &r, err, sizeof(err)), QM_OK);
        check_str(r.ptr, cases[i].want, "chunked");
        free(r.ptr);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_recorded_union),
        cmocka_unit_test(test_recorded_swapped),
        cmocka_unit_test(test_recorded_identity),
        cmocka_unit_test(test_partial_failures),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_nobody_answered),
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_chunked),
        cmocka_unit_test(test_databases_order),
        cmocka_unit_test(test_encoding),
        cmocka_unit_test(test_encoding_recorded),
        cmocka_unit_test(test_series_order),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_too_big),
        cmocka_unit_test(test_extract_assemble),
        cmocka_unit_test(test_extract_cases),
        cmocka_unit_test(test_extract_hostile),
        cmocka_unit_test(test_assemble_cases),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
