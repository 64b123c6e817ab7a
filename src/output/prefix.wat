;; The hot path of tf's pretty output, in WebAssembly: it puts the prefix before every line of
;; a block of complete lines. JavaScript pays a call for every copy; this loop moves 16 bytes at
;; a time and finds the newline (and escape codes) in each vector with one compare each
;; (WebAssembly SIMD). prefixer.ts holds the plain JavaScript twin used where WebAssembly is
;; not available; both pass the same reference tests.
;;
;; Memory, laid out by prefixer.ts: the prefix at `pre`, the lines at [from, end) (the last
;; byte is \n, and 16 readable bytes follow), the prefixed lines from `out` up to `limit`.
;; Per line it writes: prefix, the line without its \n (and without the \r of a \r\n), with
;; `reset` set the colour reset ESC[0m if the line holds an ESC (so a child's colour cannot
;; bleed into the next prefix), \n. The 16-byte stores may run up to 15 bytes past the end of
;; what they copy; the next store overwrites that, and `limit` keeps room for it.
;;
;; Assembled into prefix-wasm.ts by `npm run wasm`; a unit test checks the two agree.
(module
  (memory (export "memory") 1)
  ;; Where the next call must start: fmt stops early when what it writes would pass `limit`.
  (global $next (export "next") (mut i32) (i32.const 0))

  ;; Returns the number of bytes written at `out`.
  (func (export "fmt") (param $s i32) (param $end i32) (param $pre i32) (param $plen i32) (param $out i32) (param $limit i32) (param $reset i32) (result i32)
    (local $o i32) (local $k i32) (local $line i32) (local $coloured i32)
    (local $v v128) (local $nl i32) (local $esc i32)
    (local.set $o (local.get $out))
    (block $done
      (loop $lines
        (br_if $done (i32.ge_u (local.get $s) (local.get $end)))
        ;; The most this line can take: prefix, the rest of the input, reset, newline, slack.
        (br_if $done
          (i32.gt_u
            (i32.add (local.get $o) (i32.add (local.get $plen) (i32.add (i32.sub (local.get $end) (local.get $s)) (i32.const 16))))
            (local.get $limit)))
        (local.set $k (i32.const 0))
        (loop $prefix
          (v128.store (i32.add (local.get $o) (local.get $k)) (v128.load (i32.add (local.get $pre) (local.get $k))))
          (local.set $k (i32.add (local.get $k) (i32.const 16)))
          (br_if $prefix (i32.lt_u (local.get $k) (local.get $plen))))
        (local.set $o (i32.add (local.get $o) (local.get $plen)))
        (local.set $line (local.get $s))
        (local.set $coloured (i32.const 0))
        (block $found
          (loop $scan
            (local.set $v (v128.load (local.get $s)))
            (v128.store (local.get $o) (local.get $v))
            ;; One bit per byte: which bytes are \n, which are ESC.
            (local.set $nl (i8x16.bitmask (i8x16.eq (local.get $v) (v128.const i8x16 10 10 10 10 10 10 10 10 10 10 10 10 10 10 10 10))))
            (local.set $esc (i8x16.bitmask (i8x16.eq (local.get $v) (v128.const i8x16 27 27 27 27 27 27 27 27 27 27 27 27 27 27 27 27))))
            (br_if $found (local.get $nl))
            (local.set $coloured (i32.or (local.get $coloured) (local.get $esc)))
            (local.set $s (i32.add (local.get $s) (i32.const 16)))
            (local.set $o (i32.add (local.get $o) (i32.const 16)))
            (br $scan)))
        ;; k: the newline's byte in the vector; an ESC counts only below it.
        (local.set $k (i32.ctz (local.get $nl)))
        (local.set $coloured
          (i32.or (local.get $coloured)
            (i32.and (local.get $esc) (i32.sub (i32.shl (i32.const 1) (local.get $k)) (i32.const 1)))))
        (local.set $s (i32.add (local.get $s) (local.get $k)))
        (local.set $o (i32.add (local.get $o) (local.get $k)))
        ;; A \r right before the \n is part of the line ending, not of the text.
        (if (i32.and
              (i32.gt_u (local.get $s) (local.get $line))
              (i32.eq (i32.load8_u (i32.sub (local.get $s) (i32.const 1))) (i32.const 13)))
          (then (local.set $o (i32.sub (local.get $o) (i32.const 1)))))
        (if (i32.and (local.get $reset) (i32.ne (local.get $coloured) (i32.const 0)))
          (then
            (i32.store (local.get $o) (i32.const 0x6d305b1b)) ;; ESC [ 0 m, little-endian
            (local.set $o (i32.add (local.get $o) (i32.const 4)))))
        (i32.store8 (local.get $o) (i32.const 10))
        (local.set $o (i32.add (local.get $o) (i32.const 1)))
        (local.set $s (i32.add (local.get $s) (i32.const 1)))
        (br $lines)))
    (global.set $next (local.get $s))
    (i32.sub (local.get $o) (local.get $out))))
