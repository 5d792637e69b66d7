// 统计报表 charts: read the page's JSON block (#report-data) and draw with the vendored ECharts.
// No inline script on the page: the Content-Security-Policy allows scripts from /static only.
(function () {
  "use strict";
  function draw() {
    var block = document.getElementById("report-data");
    if (!block || typeof echarts === "undefined") { return; }
    var data = JSON.parse(block.textContent);
    function chart(id, option) {
      var el = document.getElementById(id);
      if (!el) { return; }
      var c = echarts.init(el, null, {renderer: "canvas"});
      c.setOption(option);
      el.setAttribute("data-rendered", "1");
      window.addEventListener("resize", function () { c.resize(); });
    }
    var periods = data.traffic.map(function (r) { return r.period; });
    chart("chart-traffic", {
      tooltip: {trigger: "axis"}, legend: {data: ["来电", "接通", "未接"]},
      xAxis: {type: "category", data: periods}, yAxis: {type: "value", minInterval: 1},
      series: [
        {name: "来电", type: "line", smooth: true, data: data.traffic.map(function (r) { return r.offered; })},
        {name: "接通", type: "line", smooth: true, data: data.traffic.map(function (r) { return r.answered; })},
        {name: "未接", type: "line", smooth: true, data: data.traffic.map(function (r) { return r.missed_calls; })}
      ]
    });
    function pct(v) { return v === null ? null : Math.round(v * 1000) / 10; }
    chart("chart-service", {
      tooltip: {trigger: "axis"}, legend: {data: ["服务水平 %", "放弃率 %"]},
      xAxis: {type: "category", data: periods}, yAxis: {type: "value", min: 0, max: 100},
      series: [
        {name: "服务水平 %", type: "line", data: data.traffic.map(function (r) { return pct(r.service_level); })},
        {name: "放弃率 %", type: "line", data: data.traffic.map(function (r) { return pct(r.abandon_rate); })}
      ]
    });
    var hours = data.heatmap.hours.map(function (h) { return h + "时"; });
    chart("chart-heatmap", {
      tooltip: {position: "top"},
      grid: {top: 10, bottom: 60, left: 50},
      xAxis: {type: "category", data: hours}, yAxis: {type: "category", data: data.heatmap.weekdays},
      visualMap: {min: 0, max: Math.max(1, data.heatmap.max), calculable: true, orient: "horizontal",
                  left: "center", bottom: 0},
      series: [{name: "来电", type: "heatmap",
                data: data.heatmap.cells.map(function (c) { return [c[1], c[0], c[2]]; })}]
    });
    var provinces = data.provinces.slice().reverse();
    chart("chart-provinces", {
      tooltip: {trigger: "axis"}, grid: {left: 80},
      xAxis: {type: "value", minInterval: 1},
      yAxis: {type: "category", data: provinces.map(function (r) { return r.province; })},
      series: [{name: "来电", type: "bar", data: provinces.map(function (r) { return r.calls; })}]
    });
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", draw); } else { draw(); }
})();
