/* timeline.c - timeline.html: every operation as a bar in its process's
 * column, time flowing down, coloured by outcome, request and answer on
 * hover; for the whole run and for each key.
 *
 * The ops go into the page as compact JSON and a small inline script draws
 * them. A large run draws only the bars in view (virtualised on scroll), so
 * a 100,000-op page opens in about a second. For tests, `?all=1` draws every
 * op; body[data-total-ops] and body[data-rendered] say how many exist and how
 * many are drawn, and window.whirlOps holds the data. timeline.html#op=N opens
 * at the op whose invoke has history index N.
 */
#include "whirl/report/pages.h"

#include "whirl/report/html_escape.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static int column_of(const int64_t *procs, size_t n, int64_t p)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (procs[mid] < p)
            lo = mid + 1;
        else
            hi = mid;
    }
    return (int)lo;
}

static const char timeline_css[] =
    "body{font-family:sans-serif;margin:0;font-size:13px}"
    "#bar{padding:6px 10px;border-bottom:1px solid #ccc;background:#fafafa}"
    "#bar a{margin-right:12px}.sw{display:inline-block;width:12px;height:12px;vertical-align:middle;margin:0 3px 0 10px}"
    "#scroll{position:absolute;top:64px;bottom:0;left:0;right:0;overflow:auto}"
    "#tl{position:relative}"
    "#head{position:sticky;top:0;height:20px;background:#fff;z-index:3;border-bottom:1px solid #ddd}"
    ".ph{position:absolute;top:3px;width:60px;text-align:center;font-size:11px;color:#333}"
    ".op{position:absolute;width:56px;min-height:2px;overflow:hidden;font-size:10px;line-height:12px;"
    "box-sizing:border-box;border:1px solid rgba(0,0,0,.25);border-radius:2px;padding:0 2px;white-space:nowrap;cursor:default}"
    ".op.ok{background:#6DB6FE}.op.fail{background:#FEB5DA}.op.info{background:#FFA400}"
    ".op.pending{background:repeating-linear-gradient(45deg,#FFA400,#FFA400 4px,#ffd27f 4px,#ffd27f 8px)}"
    ".op:hover{outline:2px solid #000;z-index:2}"
    ".fault{position:absolute;left:0;right:0;opacity:.25;z-index:0}"
    ".tick{position:absolute;left:0;width:54px;font-size:10px;color:#666;border-top:1px solid #ddd;text-align:right;padding-right:4px;box-sizing:border-box}";

/* The drawing script. D is the embedded data: procs (column labels), ops as
 * [col, t0_us, t1_us, outcome, f, key, request, response, error, node,
 * index, completed], faults as [t0_us, t1_us, kind, label]. */
static const char timeline_js[] =
    "(function(){\n"
    "var D=window.whirlData,ops=D.ops,N=ops.length,COLW=64,GUT=60,TOP=24,MAXDRAW=4000;\n"
    "window.whirlOps=ops;document.body.dataset.totalOps=N;\n"
    "var all=/[?&]all=1/.test(location.search)||N<=3000;\n"
    "var OUT=['ok','fail','info'],FC=['#bbbbbb','#f4a3a3','#f2dc8c','#c8b6e2'];\n"
    "var lat=[];for(var i=0;i<N;i+=Math.max(1,N>>12))lat.push(ops[i][2]-ops[i][1]);lat.sort(function(a,b){return a-b});\n"
    "var med=lat.length?Math.max(lat[lat.length>>1],1):1000;\n"
    "var endUs=D.end||1;\n"
    /* px per microsecond: a typical op 12px tall, unless ops are so sparse that
     * the page would be mostly blank; then about 40px of column per op. */
    "var busy=0;for(var i=0;i<N;i++)busy+=ops[i][2]-ops[i][1];busy=Math.max(1,busy/endUs);\n"
    "var scale=Math.min(12/med,N*40/busy/endUs,0.05);scale=Math.max(scale,400/endUs);\n"
    "if(endUs*scale>4e6)scale=4e6/endUs;\n"
    /* where the next op of the same process starts: a short op may grow to
     * a readable 14px when nothing follows it that closely */
    "var next=new Float64Array(N),lastOf={};for(var i=N-1;i>=0;i--){var c=ops[i][0];next[i]=lastOf[c]===undefined?Infinity:lastOf[c];lastOf[c]=ops[i][1]}\n"
    "var sc=document.getElementById('scroll'),tl=document.getElementById('tl'),layer=document.getElementById('ops'),head=document.getElementById('head');\n"
    "function esc(s){return String(s).replace(/[&<>\"']/g,function(c){return '&#'+c.charCodeAt(0)+';'})}\n"
    "function label(o){var f=D.fs[o[4]],v=o[6],r=o[7];\n"
    " if(f==='read')return 'R '+(o[3]===0&&r!==null?r:o[8]&&o[8].indexOf('[20,')===0?'nil':'');if(f==='write')return 'W '+v;\n"
    " if(f==='cas'){try{var a=JSON.parse(v);return 'CAS '+a[0]+'\\u2192'+a[1]}catch(e){return 'CAS '+v}}return f+' '+v}\n"
    "function tip(o){var s='process '+D.procs[o[0]]+', key '+D.keys[o[5]]+'\\n'+D.fs[o[4]]+' '+o[6]+'\\n';\n"
    " s+=(o[11]?OUT[o[3]]:'pending (never answered)')+(o[7]!==null?': '+o[7]:'')+(o[8]!==null?' error '+o[8]:'')+'\\n';\n"
    " s+='latency '+((o[2]-o[1])/1000).toFixed(3)+' ms, at '+(o[1]/1e6).toFixed(3)+' s';\n"
    " if(o[9]!==null)s+='\\nnode '+o[9];return s+'\\nhistory index '+o[10]}\n"
    "function layout(){tl.style.height=(TOP+endUs*scale+40)+'px';tl.style.width=(GUT+D.procs.length*COLW+20)+'px';\n"
    " var h='';for(var i=0;i<D.faults.length;i++){var f=D.faults[i];h+='<div class=\"fault\" style=\"top:'+(TOP+f[0]*scale)+'px;height:'+Math.max(2,(f[1]-f[0])*scale)+'px;background:'+FC[f[2]]+'\" title=\"'+esc(f[3])+'\"></div>'}\n"
    " document.getElementById('faults').innerHTML=h}\n"
    "var pending=false;\n"
    "function render(){pending=false;\n"
    " var t0=(sc.scrollTop-TOP)/scale-1,t1=(sc.scrollTop+sc.clientHeight)/scale+1;\n"
    " var c0=Math.floor((sc.scrollLeft-GUT)/COLW)-1,c1=Math.ceil((sc.scrollLeft+sc.clientWidth)/COLW)+1;\n"
    " var h=[],n=0;\n"
    " for(var i=0;i<N;i++){var o=ops[i];\n"
    "  if(!all&&(o[2]<t0||o[1]>t1||o[0]<c0||o[0]>c1))continue;\n"
    "  if(!all&&n>=MAXDRAW)break;\n"
    "  var hgt=Math.max(2,(o[2]-o[1])*scale,Math.min(14,(next[i]-o[1])*scale-1));\n"
    "  h.push('<div class=\"op '+OUT[o[3]]+(o[11]?'':' pending')+'\" data-i=\"'+i+'\" style=\"left:'+(GUT+o[0]*COLW+4)+'px;top:'+(TOP+o[1]*scale)+'px;height:'+hgt+'px\" title=\"'+esc(tip(o))+'\">'+(hgt>=12?esc(label(o)):'')+'</div>');n++}\n"
    " layer.innerHTML=h.join('');document.body.dataset.rendered=n;\n"
    " var hh='';for(var c=Math.max(0,c0);c<Math.min(D.procs.length,c1+1);c++)hh+='<div class=\"ph\" style=\"left:'+(GUT+c*COLW+2)+'px\">'+esc(D.procs[c])+'</div>';\n"
    " var step=Math.pow(10,Math.ceil(Math.log10(60/scale)));if(step/5*scale>=60)step/=5;else if(step/2*scale>=60)step/=2;\n"
    " for(var t=Math.max(0,Math.floor(t0/step)*step);t<=Math.min(t1,endUs);t+=step)hh+='<div class=\"tick\" style=\"left:'+sc.scrollLeft+'px;top:'+(TOP+t*scale-sc.scrollTop+20)+'px\">'+(t/1e6).toFixed(step<1e4?3:step<1e5?2:1)+'s</div>';\n"
    " head.innerHTML=hh}\n"
    "function schedule(){if(!pending){pending=true;requestAnimationFrame(render)}}\n"
    "window.whirlZoom=function(k){var mid=(sc.scrollTop+sc.clientHeight/2-TOP)/scale;scale*=k;layout();sc.scrollTop=mid*scale+TOP-sc.clientHeight/2;render()};\n"
    /* brings op i to the middle of the view; #op=<history index> does it on load */
    "window.whirlScrollTo=function(i){var o=ops[i];if(!o)return;sc.scrollTop=TOP+o[1]*scale-sc.clientHeight/2;sc.scrollLeft=GUT+o[0]*COLW-sc.clientWidth/2;render()};\n"
    "var hashOp=/#op=(\\d+)/.exec(location.hash);\n"
    "sc.addEventListener('scroll',schedule);window.addEventListener('resize',schedule);\n"
    "layout();render();if(hashOp)for(var i=0;i<N;i++)if(ops[i][10]==hashOp[1]){whirlScrollTo(i);break}\n"
    "document.body.dataset.renderMs=performance.now().toFixed(0);document.body.dataset.ready='1';\n"
    "})();\n";

static void write_key_text(FILE *f, const struct run *run, int k)
{
    html_script_string(f, k >= 0 && (size_t)k < run->n_keys ? run->keys[k].text : "?");
}

int timeline_write(const struct run *run, int k, const char *path)
{
    size_t n;
    size_t *idx = report_run_ops_of_key(run, k, &n);
    int64_t *procs = malloc((n + 1) * sizeof *procs);
    if (!idx || !procs) {
        free(idx);
        free(procs);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        procs[i] = run->ops[idx[i]].process;
    qsort(procs, n, sizeof *procs, cmp_i64);
    size_t np = 0;
    for (size_t i = 0; i < n; i++)
        if (np == 0 || procs[np - 1] != procs[i])
            procs[np++] = procs[i];
    FILE *f = fopen(path, "w");
    if (!f) {
        free(idx);
        free(procs);
        return -1;
    }
    const char *up = k >= 0 ? "../../" : "";
    fputs("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>", f);
    if (k >= 0) {
        fputs("key ", f);
        html_escape(f, run->keys[k].text);
        fputs(" - ", f);
    }
    fprintf(f, "timeline</title><style>%s</style></head>\n<body>\n<div id=\"bar\"><a href=\"%sindex.html\">&larr; run</a>",
            timeline_css, up);
    fputs("<b>Timeline", f);
    if (k >= 0) {
        fputs(" of key ", f);
        html_escape(f, run->keys[k].text);
    }
    fprintf(f, "</b>: %zu operations, %zu processes", n, np);
    for (int o = 0; o < RUN_OUTCOME_COUNT; o++)
        fprintf(f, "<span class=\"sw\" style=\"background:%s\"></span>%s", report_outcome_colors[o], report_run_outcome_names[o]);
    fputs(" &nbsp; <button onclick=\"whirlZoom(2)\">zoom in</button><button onclick=\"whirlZoom(0.5)\">zoom out</button>"
          "<br><small>time flows down; one column per process; hover a bar for its request and answer; "
          "shaded bands are faults</small></div>\n"
          "<div id=\"scroll\"><div id=\"tl\"><div id=\"head\"></div><div id=\"faults\"></div><div id=\"ops\"></div></div></div>\n"
          "<script>window.whirlData={",
          f);
    fprintf(f, "\"end\":%llu,\"procs\":[", (unsigned long long)(run->end_ns / 1000));
    for (size_t i = 0; i < np; i++)
        fprintf(f, "%s%lld", i ? "," : "", (long long)procs[i]);
    fputs("],\"fs\":[\"read\",\"write\",\"cas\",\"other\"],\"keys\":[", f);
    /* a key's own page names only its key: thousands of key pages must not
     * each carry every key */
    if (k >= 0)
        write_key_text(f, run, k);
    for (size_t i = 0; k < 0 && i < run->n_keys; i++) {
        fputs(i ? "," : "", f);
        write_key_text(f, run, (int)i);
    }
    fputs("],\"faults\":[", f);
    for (size_t i = 0; i < run->n_periods; i++) {
        const struct run_period *p = &run->periods[i];
        fprintf(f, "%s[%llu,%llu,%d,", i ? "," : "", (unsigned long long)(p->t0_ns / 1000),
                (unsigned long long)(p->t1_ns / 1000), p->fault);
        html_script_string(f, p->label);
        fputc(']', f);
    }
    fputs("],\"ops\":[\n", f);
    for (size_t i = 0; i < n; i++) {
        const struct run_op *op = &run->ops[idx[i]];
        fprintf(f, "%s[%d,%llu,%llu,%d,%d,%d,", i ? ",\n" : "", column_of(procs, np, op->process),
                (unsigned long long)(op->t0_ns / 1000), (unsigned long long)(op->t1_ns / 1000), op->outcome, op->f,
                k >= 0 ? 0 : op->key);
        html_script_string(f, op->request);
        fputc(',', f);
        html_script_string(f, op->response);
        fputc(',', f);
        html_script_string(f, op->error);
        fputc(',', f);
        html_script_string(f, op->node);
        fprintf(f, ",%lld,%d]", (long long)op->invoke_index, op->completed ? 1 : 0);
    }
    fprintf(f, "]};\n</script>\n<script>\n%s</script>\n</body></html>\n", timeline_js);
    free(idx);
    free(procs);
    int bad = ferror(f);
    bad |= fclose(f);
    return bad ? -1 : 0;
}
