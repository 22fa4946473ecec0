//! The load: connections, the prepared requests, the timed loop and the report.

use super::*;

// ---------------------------------------------------------------------------------------------
// The load
// ---------------------------------------------------------------------------------------------

/// Where a target listens.
#[derive(Clone)]
pub(crate) struct Endpoint {
    /// host:port, to connect to and for the Host header.
    authority: String,
    path: String,
}

impl Endpoint {
    fn parse(url: &str) -> Result<Self, String> {
        let uri: hyper::Uri = url.parse().map_err(|e| format!("{url}: {e}"))?;
        if uri.scheme_str() != Some("http") {
            return Err(format!("{url}: only http:// URLs"));
        }
        let auth = uri.authority().ok_or_else(|| format!("{url}: no host"))?;
        let authority = match auth.port_u16() {
            Some(_) => auth.to_string(),
            None => format!("{}:80", auth.host()),
        };
        Ok(Self {
            authority,
            path: uri.path().to_string(),
        })
    }
}

/// One HTTP/1.1 keep-alive connection.
pub(crate) struct Conn {
    sender: SendRequest<Full<Bytes>>,
    ep: Endpoint,
}

impl Conn {
    async fn open(ep: &Endpoint) -> Result<Self, String> {
        let stream = tokio::net::TcpStream::connect(&ep.authority)
            .await
            .map_err(|e| format!("connecting to {}: {e}", ep.authority))?;
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("HTTP handshake with {}: {e}", ep.authority))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Self {
            sender,
            ep: ep.clone(),
        })
    }

    /// Posts `body`; the answer's body when the status is 200.
    async fn post(&mut self, body: Bytes) -> Result<Bytes, String> {
        self.sender.ready().await.map_err(|e| e.to_string())?;
        let req = hyper::Request::post(self.ep.path.as_str())
            .header(HOST, self.ep.authority.as_str())
            .header(CONTENT_TYPE, "application/json")
            .body(Full::new(body))
            .map_err(|e| e.to_string())?;
        let resp = self
            .sender
            .send_request(req)
            .await
            .map_err(|e| e.to_string())?;
        let status = resp.status();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        if status != hyper::StatusCode::OK {
            return Err(format!("HTTP {status}: {}", snippet(&body)));
        }
        Ok(body)
    }
}

pub(crate) fn snippet(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(&b[..b.len().min(300)]).into_owned();
    if b.len() > 300 {
        format!("{s}… ({} bytes)", b.len())
    } else {
        s
    }
}

/// A target's requests for one method, each with the answer checked before the run.
pub(crate) struct Requests {
    bodies: Vec<Bytes>,
    answers: Vec<Bytes>,
}

pub(crate) struct Target {
    name: String,
    ep: Endpoint,
    fixture: Value,
    pid: Option<u32>,
}

pub(crate) fn request(method: &str, params: Value) -> Bytes {
    serde_json::to_vec(&json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}))
        .expect("json")
        .into()
}

/// `n` of `all`, spread evenly.
pub(crate) fn spread(all: &[Value], n: usize) -> Vec<&Value> {
    let n = n.clamp(1, all.len().max(1));
    (0..n).filter_map(|i| all.get(i * all.len() / n)).collect()
}

pub(crate) fn field<'a>(f: &'a Value, name: &str) -> Result<&'a Value, String> {
    f.get(name)
        .ok_or_else(|| format!("the fixture has no {name:?}"))
}

/// The request bodies of `method` against target `t`, each sent once and its answer checked
/// on `conn`.
pub(crate) async fn prepare(
    t: &Target,
    method: &str,
    a: &BenchArgs,
    conn: &mut Conn,
) -> Result<Requests, String> {
    let f = &t.fixture;
    let head = field(f, "head")?
        .as_u64()
        .ok_or("the fixture's head is not a number")?;
    let token = field(f, "token")?
        .as_str()
        .ok_or("the fixture's token is not a string")?
        .to_lowercase();
    // (body, check of the result)
    type Check = Box<dyn Fn(&Value) -> Result<(), String>>;
    let mut cases: Vec<(Bytes, Check)> = Vec::new();
    match method {
        "eth_blockNumber" => cases.push((
            request(method, json!([])),
            Box::new(move |r| {
                let n = parse_u64(r, "eth_blockNumber")?;
                (n == head)
                    .then_some(())
                    .ok_or(format!("block number {n}, the fixture's head is {head}"))
            }),
        )),
        "eth_getBalance" => {
            let funded = field(f, "funded")?
                .as_array()
                .ok_or("the fixture's funded is not a list")?;
            for acc in spread(funded, a.bodies) {
                let want = parse_u256(&acc[1], "the fixture's balance")?;
                cases.push((
                    request(method, json!([acc[0], "latest"])),
                    Box::new(move |r| {
                        let got = parse_u256(r, "eth_getBalance")?;
                        (got == want)
                            .then_some(())
                            .ok_or(format!("balance {got}, expected {want}"))
                    }),
                ));
            }
        }
        "eth_call" => {
            let holders = field(f, "holders")?
                .as_array()
                .ok_or("the fixture's holders is not a list")?;
            for h in spread(holders, a.bodies) {
                let want = parse_u256(&h[1], "the fixture's token balance")?;
                let holder = h[0]
                    .as_str()
                    .ok_or("a holder is not a string")?
                    .trim_start_matches("0x");
                let hex4: String = BALANCE_OF.iter().map(|b| format!("{b:02x}")).collect();
                let data = format!("0x{hex4}{:0>64}", holder.to_lowercase());
                cases.push((
                    request(method, json!([{"to": token, "data": data}, "latest"])),
                    Box::new(move |r| {
                        let got = parse_u256(r, "eth_call")?;
                        (got == want)
                            .then_some(())
                            .ok_or(format!("balanceOf {got}, expected {want}"))
                    }),
                ));
            }
        }
        "eth_getLogs" => {
            let transfer_blocks: Vec<u64> =
                serde_json::from_value(field(f, "transfer_blocks")?.clone())
                    .map_err(|e| format!("the fixture's transfer_blocks: {e}"))?;
            let from = (head + 1).saturating_sub(a.logs_range.max(1));
            // One Transfer log in each token-transfer block of the range, in block order.
            let want: Vec<u64> = transfer_blocks
                .into_iter()
                .filter(|b| (from..=head).contains(b))
                .collect();
            println!(
                "{}: eth_getLogs over blocks {from}..={head}: {} logs expected",
                t.name,
                want.len()
            );
            let token_c = token.clone();
            cases.push((
                request(
                    method,
                    json!([{
                        "fromBlock": format!("{from:#x}"),
                        "toBlock": format!("{head:#x}"),
                        "address": token,
                        "topics": [TRANSFER_TOPIC],
                    }]),
                ),
                Box::new(move |r| {
                    let logs = r.as_array().ok_or("eth_getLogs: not a list")?;
                    if logs.len() != want.len() {
                        return Err(format!("{} logs, expected {}", logs.len(), want.len()));
                    }
                    for (i, (l, &wb)) in logs.iter().zip(&want).enumerate() {
                        let b = parse_u64(&l["blockNumber"], "a log's blockNumber")?;
                        let addr = l["address"].as_str().unwrap_or("").to_lowercase();
                        if b != wb || addr != token_c || l["topics"][0] != TRANSFER_TOPIC {
                            return Err(format!("log {i} is not the expected one: {l}"));
                        }
                    }
                    Ok(())
                }),
            ));
        }
        m => {
            return Err(format!(
                "unknown method {m:?} (known: {})",
                METHODS.join(", ")
            ))
        }
    }
    let mut bodies = Vec::with_capacity(cases.len());
    let mut answers = Vec::with_capacity(cases.len());
    for (body, check) in cases {
        let answer = conn
            .post(body.clone())
            .await
            .map_err(|e| format!("{} {method}: {e}", t.name))?;
        let v: Value = serde_json::from_slice(&answer)
            .map_err(|e| format!("{} {method}: {e}: {}", t.name, snippet(&answer)))?;
        let result = v.get("result").ok_or_else(|| {
            format!(
                "{} {method}: no result: {} (request {})",
                t.name,
                snippet(&answer),
                snippet(&body)
            )
        })?;
        check(result)
            .map_err(|e| format!("{} {method}: {e} (request {})", t.name, snippet(&body)))?;
        bodies.push(body);
        answers.push(answer);
    }
    Ok(Requests { bodies, answers })
}

/// CPU time (user + system) of a process, from /proc (Linux); `None` elsewhere.
pub(crate) fn proc_cpu(pid: &str) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|s| s.parse::<u64>().ok()).unwrap_or(0);
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name; the
    // kernel counts them in 1/100 s (USER_HZ).
    Some(Duration::from_millis((ticks(11) + ticks(12)) * 10))
}

/// The whole machine's (busy, total) CPU time in ticks, from /proc/stat.
pub(crate) fn machine_cpu() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|s| s.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest times are inside user).
    let total: u64 = v.iter().take(8).sum();
    let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
    Some((total - idle, total))
}

pub(crate) struct CpuMark {
    own: Option<Duration>,
    server: Option<Duration>,
    machine: Option<(u64, u64)>,
}

impl CpuMark {
    fn now(pid: Option<u32>) -> Self {
        Self {
            own: proc_cpu("self"),
            server: pid.and_then(|p| proc_cpu(&p.to_string())),
            machine: machine_cpu(),
        }
    }
}

/// What one connection saw.
#[derive(Default)]
pub(crate) struct ConnResult {
    /// Latencies of the answers completed inside the timed window.
    latencies: Vec<Duration>,
    errors: u64,
    samples: Vec<String>,
    bytes: u64,
}

impl ConnResult {
    fn error(&mut self, e: String) {
        self.errors += 1;
        if self.samples.len() < 3 {
            self.samples.push(e);
        }
    }
}

/// A cheap random index (xorshift64).
pub(crate) struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

pub(crate) struct Measured {
    rate: f64,
    ok: usize,
    p50: Duration,
    p99: Duration,
    max: Duration,
    errors: u64,
    samples: Vec<String>,
    mb_per_s: f64,
    own_cpu: Option<f64>,
    server_cpu: Option<f64>,
    machine_cpu: Option<f64>,
}

pub(crate) fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

pub(crate) async fn measure(
    t: &Target,
    reqs: &std::sync::Arc<Requests>,
    a: &BenchArgs,
) -> Measured {
    let t0 = Instant::now();
    let start = t0 + Duration::from_secs_f64(a.warmup_s);
    let window = Duration::from_secs_f64(a.duration_s);
    let end = start + window;
    let timeout = Duration::from_secs_f64(a.request_timeout_s);
    let mut tasks = tokio::task::JoinSet::new();
    for k in 0..a.connections {
        let reqs = reqs.clone();
        let ep = t.ep.clone();
        tasks.spawn(async move {
            let mut out = ConnResult::default();
            let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ ((k as u64 + 1) * 0x2545_F491_4F6C_DD1D));
            let mut conn: Option<Conn> = None;
            let n = reqs.bodies.len();
            while Instant::now() < end {
                let c = match conn.as_mut() {
                    Some(c) => c,
                    None => match Conn::open(&ep).await {
                        Ok(c) => conn.insert(c),
                        Err(e) => {
                            out.error(e);
                            tokio::time::sleep(Duration::from_millis(10)).await;
                            continue;
                        }
                    },
                };
                let i = rng.below(n);
                let sent = Instant::now();
                let r = tokio::time::timeout(timeout, c.post(reqs.bodies[i].clone())).await;
                let done = Instant::now();
                match r {
                    Ok(Ok(answer)) if answer == reqs.answers[i] => {
                        if done >= start && done <= end {
                            out.latencies.push(done - sent);
                            out.bytes += answer.len() as u64;
                        }
                    }
                    Ok(Ok(answer)) => out.error(format!(
                        "an answer other than the checked one: {}",
                        snippet(&answer)
                    )),
                    Ok(Err(e)) => {
                        out.error(e);
                        conn = None;
                    }
                    Err(_) => {
                        out.error(format!("no answer within {timeout:?}"));
                        conn = None;
                    }
                }
            }
            out
        });
    }
    tokio::time::sleep_until(start.into()).await;
    let c0 = CpuMark::now(t.pid);
    tokio::time::sleep_until(end.into()).await;
    let c1 = CpuMark::now(t.pid);
    let mut lat = Vec::new();
    let mut errors = 0;
    let mut samples = Vec::new();
    let mut bytes = 0;
    while let Some(r) = tasks.join_next().await {
        match r {
            Ok(r) => {
                lat.extend(r.latencies);
                errors += r.errors;
                bytes += r.bytes;
                for s in r.samples {
                    if samples.len() < 5 {
                        samples.push(s);
                    }
                }
            }
            Err(e) => {
                errors += 1;
                samples.push(format!("a connection task failed: {e}"));
            }
        }
    }
    lat.sort();
    let secs = window.as_secs_f64();
    let share = |a: Option<Duration>, b: Option<Duration>| match (a, b) {
        (Some(a), Some(b)) => Some(b.saturating_sub(a).as_secs_f64() / secs),
        _ => None,
    };
    let machine = match (c0.machine, c1.machine) {
        (Some((b0, t0)), Some((b1, t1))) if t1 > t0 => Some((b1 - b0) as f64 / (t1 - t0) as f64),
        _ => None,
    };
    Measured {
        rate: lat.len() as f64 / secs,
        ok: lat.len(),
        p50: percentile(&lat, 0.5),
        p99: percentile(&lat, 0.99),
        max: lat.last().copied().unwrap_or_default(),
        errors,
        samples,
        mb_per_s: bytes as f64 / secs / 1e6,
        own_cpu: share(c0.own, c1.own),
        server_cpu: share(c0.server, c1.server),
        machine_cpu: machine,
    }
}

pub(crate) fn ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1e3;
    if ms < 10.0 {
        format!("{ms:.2} ms")
    } else {
        format!("{ms:.1} ms")
    }
}

pub(crate) fn pct(x: Option<f64>) -> String {
    x.map_or("-".into(), |x| format!("{:.0} %", x * 100.0))
}

pub(crate) fn parse_pair(s: &str, what: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .ok_or_else(|| format!("{what} {s:?}: expected NAME=VALUE"))
}

pub(crate) async fn bench(a: BenchArgs) -> Result<bool, String> {
    if a.connections == 0 || a.duration_s <= 0.0 {
        return Err("--connections and --duration-s must be above 0".into());
    }
    let mut targets = Vec::new();
    for spec in &a.targets {
        let (name, file) = parse_pair(spec, "--target")?;
        let text = std::fs::read_to_string(&file).map_err(|e| format!("{file}: {e}"))?;
        let fixture: Value = serde_json::from_str(&text).map_err(|e| format!("{file}: {e}"))?;
        let url = field(&fixture, "url")?
            .as_str()
            .ok_or("the fixture's url is not a string")?;
        let mut pid = None;
        for p in &a.pids {
            let (n, v) = parse_pair(p, "--pid")?;
            if n == name {
                pid = Some(v.parse().map_err(|e| format!("--pid {p}: {e}"))?);
            }
        }
        targets.push(Target {
            name,
            ep: Endpoint::parse(url)?,
            fixture,
            pid,
        });
    }
    let methods: Vec<&str> = a.methods.split(',').map(str::trim).collect();
    for t in &targets {
        let f = &t.fixture;
        let n = |k: &str| f[k].as_array().map_or(0, Vec::len);
        println!(
            "{}: {} ({} funded accounts, {} token transfers, {} empty blocks, head {})",
            t.name,
            f["url"].as_str().unwrap_or("?"),
            n("funded"),
            n("holders"),
            n("empty_blocks"),
            f["head"]
        );
    }
    let layout = |t: &Target| {
        (
            t.fixture["tx_blocks"].clone(),
            t.fixture["empty_blocks"].clone(),
        )
    };
    if targets.windows(2).any(|w| layout(&w[0]) != layout(&w[1])) {
        println!("!!! the targets' chains differ in block layout: the reads do not compare like for like");
    }

    // Every request prepared and checked before anything is timed.
    let mut prepared = Vec::new();
    for t in &targets {
        let mut conn = Conn::open(&t.ep).await?;
        let mut per_method = Vec::new();
        for m in &methods {
            let reqs = prepare(t, m, &a, &mut conn).await?;
            let size = reqs.answers.iter().map(Bytes::len).sum::<usize>() / reqs.answers.len();
            println!(
                "{}: {m}: {} requests checked (answers of {size} bytes on average)",
                t.name,
                reqs.bodies.len()
            );
            per_method.push(std::sync::Arc::new(reqs));
        }
        prepared.push(per_method);
    }
    println!(
        "load: {} keep-alive HTTP/1.1 connections (hyper), closed loop, {} s warm-up + {} s \
         timed per method and target, {} runtime thread(s); methods one at a time, targets in \
         turn",
        a.connections, a.warmup_s, a.duration_s, a.threads
    );

    let mut any_errors = false;
    for round in 1..=a.rounds.max(1) {
        let mut rows: Vec<(String, Vec<Measured>)> = Vec::new();
        for (mi, m) in methods.iter().enumerate() {
            let mut row = Vec::new();
            for (ti, t) in targets.iter().enumerate() {
                tokio::time::sleep(Duration::from_secs_f64(a.pause_s)).await;
                let r = measure(t, &prepared[ti][mi], &a).await;
                println!(
                    "round {round} {m} {}: {:.0} req/s ({} answers), p50 {}, p99 {}, max {}, \
                     {:.1} MB/s of answers; errors {}; CPU: load generator {}, server {}, \
                     machine {} of {} cores",
                    t.name,
                    r.rate,
                    r.ok,
                    ms(r.p50),
                    ms(r.p99),
                    ms(r.max),
                    r.mb_per_s,
                    r.errors,
                    pct(r.own_cpu),
                    pct(r.server_cpu),
                    pct(r.machine_cpu),
                    std::thread::available_parallelism().map_or(0, |n| n.get()),
                );
                if r.errors > 0 {
                    any_errors = true;
                    eprintln!(
                        "!!! {} {m}: {} ERRORS; the first: {:?}",
                        t.name, r.errors, r.samples
                    );
                }
                row.push(r);
            }
            rows.push((m.to_string(), row));
        }
        println!();
        println!(
            "round {round}: {} connections, {} s per method and target",
            a.connections, a.duration_s
        );
        let mut head = "| method |".to_string();
        let mut rule = "|---|".to_string();
        for t in &targets {
            head += &format!(" {0} req/s | {0} p50 | {0} p99 | {0} errors |", t.name);
            rule += "---:|---:|---:|---:|";
        }
        if targets.len() == 2 {
            head += &format!(" {} / {} |", targets[0].name, targets[1].name);
            rule += "---:|";
        }
        println!("{head}\n{rule}");
        for (m, row) in &rows {
            let mut line = format!("| {m} |");
            for r in row {
                line += &format!(
                    " {:.0} | {} | {} | {} |",
                    r.rate,
                    ms(r.p50),
                    ms(r.p99),
                    r.errors
                );
            }
            if row.len() == 2 && row[1].rate > 0.0 {
                line += &format!(" {:.2} |", row[0].rate / row[1].rate);
            }
            println!("{line}");
        }
        println!();
    }
    Ok(!any_errors)
}
