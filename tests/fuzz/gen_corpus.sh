#!/usr/bin/env bash
# gen_corpus.sh - (re)writes the seed inputs of tests/fuzz/corpus: binary ones
# with gen_corpus.c and the project's encoders (needs `make` first), text
# ones here. Inputs the fuzzer found and regressions are kept as they are.
#   tests/fuzz/gen_corpus.sh [BUILD]      (default build)
# Most targets read a control byte first (see each fuzz_<target>.c); the
# seeds below give it as \x00 or similar.
set -euo pipefail
build=${1:-build}
here=$(cd "$(dirname "$0")" && pwd)
corpus=$here/corpus
shared=${RAFTKV_SHARED:-/work/shared}
mkdir -p "$corpus"/{resp,peer_frame,maelstrom_line,wal_record,snapshot,history,http} "$build/tests/fuzz"

# The libraries the build links (its flags.mk, from pkg-config).
pkg() { sed -n "s/^$1 := //p" "$build/flags.mk"; }
cc -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -I"$here/../../src" $(pkg PKG_CFLAGS) \
  -o "$build/tests/fuzz/gen_corpus" "$here/gen_corpus.c" "$build/libnode.a" "$build/libraftkv.a" \
  $(pkg PKG_LIBS) -lm
"$build/tests/fuzz/gen_corpus" "$corpus"

seed() { printf "$3" >"$corpus/$1/$2"; }

# RESP: control byte (bit 0 tight limits, bits 1-3 piece size), then requests.
seed resp set_get '\x00*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n'
seed resp pipeline_pieces '\x06*1\r\n$4\r\nPING\r\n*2\r\n$4\r\nINCR\r\n$3\r\nctr\r\n*0\r\n*-1\r\n'
seed resp inline '\x02SET k  v\r\nGET\tk\n\r\nPING\n'
seed resp hello_auth '\x00*5\r\n$5\r\nHELLO\r\n$1\r\n3\r\n$4\r\nAUTH\r\n$4\r\nuser\r\n$4\r\npass\r\n'
seed resp tight_too_many '\x01*5\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\ne\r\n'
seed resp empty_bulk '\x00*2\r\n$3\r\nGET\r\n$0\r\n\r\n'
seed resp replies '\x00+OK\r\n-ERR unknown\r\n:42\r\n$5\r\nhello\r\n$-1\r\n*2\r\n:1\r\n_\r\n'
seed resp bad_length '\x00*2\r\n$-5\r\nGET\r\n'

# HTTP request heads (the metrics port): control byte (bit 0: a 64-byte bound).
seed http prometheus_scrape '\x00GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:9100\r\nUser-Agent: Prometheus/2.45.0\r\nAccept: text/plain;version=0.0.4\r\nAccept-Encoding: gzip\r\n\r\n'
seed http health_http10 '\x00GET /health HTTP/1.0\n\n'
seed http head_query '\x00\r\nHEAD /health?x=1 HTTP/1.1\r\nhost: a\r\n\r\n'
seed http body '\x00POST /metrics HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello'
seed http chunked '\x00GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'
seed http folded '\x00GET / HTTP/1.1\r\nHost: a\r\n x\r\n\r\n'
seed http tight_too_large '\x01GET /metrics HTTP/1.1\r\nHost: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n'
seed http http2 '\x00PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'
seed http resp_not_http '\x00*1\r\n$4\r\nPING\r\n'
seed http two_lengths '\x00GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n'

# Maelstrom lines (PROTOCOL.md); without an init line the target inits n1 of n1..n3.
init='{"src":"c0","dest":"n1","body":{"type":"init","msg_id":1,"node_id":"n1","node_ids":["n1","n2","n3"]}}'
seed maelstrom_line init_and_ops "$init"'\n{"src":"c1","dest":"n1","body":{"type":"write","key":1,"value":3,"msg_id":2}}\n{"src":"c1","dest":"n1","body":{"type":"read","key":1,"msg_id":3}}\n{"src":"c1","dest":"n1","body":{"type":"cas","key":1,"from":3,"to":4,"msg_id":4}}\n'
seed maelstrom_line raft_init '{"src":"c0","dest":"n2","body":{"type":"raft_init","msg_id":1,"node_id":"n2","node_ids":["n1","n2"]}}\n{"src":"c2","dest":"n2","body":{"type":"read","key":"k","msg_id":9}}\n'
seed maelstrom_line vote '{"src":"n2","dest":"n1","body":{"type":"raft_vote","msg_id":5,"t":2,"li":0,"lt":0}}\n{"src":"n3","dest":"n1","body":{"type":"raft_prevote","msg_id":6,"t":3,"li":4,"lt":1}}\n'
seed maelstrom_line transfer '{"src":"n2","dest":"n1","body":{"type":"raft_timeout_now","msg_id":14,"t":2}}\n{"src":"n3","dest":"n1","body":{"type":"raft_vote","msg_id":15,"t":3,"li":4,"lt":2,"tr":1}}\n'
seed maelstrom_line append '{"src":"n2","dest":"n1","body":{"type":"raft_append","msg_id":7,"t":2,"pi":0,"pt":0,"c":1,"q":1,"e":[[2,0,null],[2,1,{"k":1,"op":"w","v":7}]]}}\n{"src":"c3","dest":"n1","body":{"type":"read","key":1,"msg_id":10}}\n'
seed maelstrom_line snapshot '{"src":"n3","dest":"n1","body":{"type":"raft_snapshot","msg_id":8,"t":4,"c":5,"q":2,"si":5,"st":4,"sd":{"1":3,"\\"k\\"":[1,2]}}}\n'
seed maelstrom_line responses '{"src":"n2","dest":"n1","body":{"type":"raft_append_resp","msg_id":9,"t":1,"s":false,"q":1,"mi":0,"ri":3,"hi":1,"ht":1}}\n{"src":"n2","dest":"n1","body":{"type":"raft_vote_resp","msg_id":10,"t":1,"g":true}}\n{"src":"n3","dest":"n1","body":{"type":"raft_snapshot_resp","msg_id":11,"t":1,"s":true,"q":1,"mi":5}}\n'
seed maelstrom_line fwd '{"src":"n2","dest":"n1","body":{"type":"fwd","msg_id":12,"reqs":[]}}\n{"src":"n2","dest":"n1","body":{"type":"fwd_ok","in_reply_to":3}}\n{"src":"c1","dest":"n1","body":{"type":"echo","msg_id":13}}\nnot json\n'

# History files: control byte (format: 0 auto, 1 jsonl, 2 EDN, 3 Jepsen log).
seed history jsonl '\x01{"index":0,"time":1,"process":3,"type":"invoke","f":"read","key":0,"value":null}\n{"index":1,"time":2,"process":3,"type":"ok","f":"read","key":0,"value":4}\n{"index":2,"time":3,"process":5,"type":"invoke","f":"cas","key":0,"value":[4,1]}\n{"index":3,"time":4,"process":5,"type":"fail","f":"cas","key":0,"value":[4,1],"error":[22,"precondition"]}\n{"index":4,"time":5,"process":"nemesis","type":"info","f":"start-partition","value":[["n1"]]}\n{"index":5,"process":6,"type":"invoke","f":"write","key":"k","value":{"b":1,"a":2}}\n{"index":6,"process":6,"type":"info","f":"write","key":"k","value":{"b":1,"a":2},"error":[0,"timeout"]}\n'
seed history edn '\x00{:type :invoke, :f :write, :value [0 3], :process 0, :time 10, :index 0}\n{:type :ok, :f :write, :value [0 3], :process 0, :time 20, :index 1}\n{:type :info, :f :start-partition, :value [:isolated {"n1" #{"n2"}}], :process :nemesis, :index 2}\n{:type :invoke, :f :cas, :value [1 [3 4]], :process 1, :time 30, :index 3}\n{:type :fail, :f :cas, :value [1 [3 4]], :process 1, :time 40, :index 4, :error :precondition-failed}\n{:type :invoke, :f :read, :value [0 nil], :process 2, :index 5}\n{:type :ok, :f :read, :value [0 3], :process 2, :index 6}\n'
seed history jsonl_models '\x01{"process":0,"type":"invoke","f":"incr","key":"c","value":2}\n{"process":0,"type":"ok","f":"incr","key":"c","value":"2"}\n{"process":1,"type":"invoke","f":"append","key":"s","value":"ab"}\n{"process":1,"type":"ok","f":"append","key":"s","value":2}\n{"process":2,"type":"invoke","f":"getset","key":"s","value":"x"}\n{"process":2,"type":"ok","f":"getset","key":"s","value":"ab"}\n{"process":3,"type":"invoke","f":"incrby","key":"s"}\n{"process":3,"type":"fail","f":"incrby","key":"s","error":[40,"not an integer"]}\n{"process":4,"type":"invoke","f":"del","key":"c"}\n{"process":4,"type":"ok","f":"del","key":"c","value":1}\n'
seed history jsonl_expiry '\x01{"process":0,"type":"invoke","f":"set","key":1,"value":"v","deadline":1000}\n{"process":0,"type":"ok","f":"set","key":1,"at":100}\n{"process":1,"type":"invoke","f":"pttl","key":1}\n{"process":1,"type":"ok","f":"pttl","key":1,"value":600,"at":400}\n{"process":2,"type":"invoke","f":"persist","key":1,"at":500}\n{"process":2,"type":"info","f":"persist","key":1}\n{"process":3,"type":"invoke","f":"get","key":1}\n{"process":3,"type":"ok","f":"get","key":1,"value":null,"at":1200}\n'
seed history edn_expiry '\x00{:type :invoke, :f :set, :value [0 "v"], :deadline 50, :process 0, :index 0}\n{:type :ok, :f :set, :value [0 "v"], :at 100, :process 0, :index 1}\n{:type :invoke, :f :ttl, :value [0 nil], :process 1, :index 2}\n{:type :ok, :f :ttl, :value [0 -2], :at 120, :process 1, :index 3}\n'
for f in etcd_002 etcd_067; do
  { printf '\x00'; head -n 40 "$shared/checker-suite/etcd/$f.log"; } >"$corpus/history/$f-head.log"
done
du -sh "$corpus"
