;; The hot path of tf's pretty output, in WebAssembly: it puts the prefix before every line of
;; a block of complete lines. JavaScript pays for every small copy and every string it makes
;; (a 100-byte line cost ~150 ns there); this loop moves 8 bytes at a time and finds the
;; newline (and escape codes) in each word with bit tricks, ~4x less CPU per megabyte.
;;
;; Memory, laid out by prefixer.ts for each call: the prefix at `pre`, the lines at [from, end)
;; (the last byte is \n, and 8 readable bytes follow), the output from `out` up to `limit`.
;; Per line it writes: prefix, the line without its \n (and without the \r of a \r\n), the
;; colour reset ESC[0m if the line holds an ESC (so a child's colour cannot bleed into the
;; next prefix), \n. The 8-byte stores may run up to 7 bytes past the end of what they copy;
;; the next store overwrites that, and `limit` keeps room for it.
;;
;; Assembled into prefix-wasm.ts by `npm run wasm`; a unit test checks the two agree.
(module
  (memory (export "memory") 1)
  ;; Where the next call must start: fmt stops early when the output would pass `limit`.
  (global $next (export "next") (mut i32) (i32.const 0))

  ;; Returns the number of bytes written at `out`.
  (func (export "fmt") (param $s i32) (param $end i32) (param $pre i32) (param $plen i32) (param $out i32) (param $limit i32) (result i32)
    (local $o i32) (local $k i32) (local $line i32) (local $coloured i32)
    (local $v i64) (local $nl i64) (local $esc i64)
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
          (i64.store (i32.add (local.get $o) (local.get $k)) (i64.load (i32.add (local.get $pre) (local.get $k))))
          (local.set $k (i32.add (local.get $k) (i32.const 8)))
          (br_if $prefix (i32.lt_u (local.get $k) (local.get $plen))))
        (local.set $o (i32.add (local.get $o) (local.get $plen)))
        (local.set $line (local.get $s))
        (local.set $coloured (i32.const 0))
        (block $found
          (loop $scan
            (local.set $v (i64.load (local.get $s)))
            (i64.store (local.get $o) (local.get $v))
            ;; A byte equal to c becomes 0 in v^cccccccc; (x - 0x01..) & ~x & 0x80.. flags zero
            ;; bytes. Flags above the lowest one can be false, the lowest never is.
            (local.set $nl (i64.xor (local.get $v) (i64.const 0x0a0a0a0a0a0a0a0a)))
            (local.set $nl
              (i64.and
                (i64.and (i64.sub (local.get $nl) (i64.const 0x0101010101010101)) (i64.xor (local.get $nl) (i64.const -1)))
                (i64.const 0x8080808080808080)))
            (local.set $esc (i64.xor (local.get $v) (i64.const 0x1b1b1b1b1b1b1b1b)))
            (local.set $esc
              (i64.and
                (i64.and (i64.sub (local.get $esc) (i64.const 0x0101010101010101)) (i64.xor (local.get $esc) (i64.const -1)))
                (i64.const 0x8080808080808080)))
            (br_if $found (i64.ne (local.get $nl) (i64.const 0)))
            (local.set $coloured (i32.or (local.get $coloured) (i64.ne (local.get $esc) (i64.const 0))))
            (local.set $s (i32.add (local.get $s) (i32.const 8)))
            (local.set $o (i32.add (local.get $o) (i32.const 8)))
            (br $scan)))
        ;; k: the newline's byte in the word. An ESC counts only below it: if any flag there is
        ;; set, the lowest flag of the word is below it too, and that one is a real ESC.
        (local.set $k (i32.wrap_i64 (i64.shr_u (i64.ctz (local.get $nl)) (i64.const 3))))
        (local.set $coloured
          (i32.or (local.get $coloured)
            (i64.ne
              (i64.and (local.get $esc)
                (i64.sub (i64.shl (i64.const 1) (i64.extend_i32_u (i32.shl (local.get $k) (i32.const 3)))) (i64.const 1)))
              (i64.const 0))))
        (local.set $s (i32.add (local.get $s) (local.get $k)))
        (local.set $o (i32.add (local.get $o) (local.get $k)))
        ;; A \r right before the \n is part of the line ending, not of the text.
        (if (i32.and
              (i32.gt_u (local.get $s) (local.get $line))
              (i32.eq (i32.load8_u (i32.sub (local.get $s) (i32.const 1))) (i32.const 13)))
          (then (local.set $o (i32.sub (local.get $o) (i32.const 1)))))
        (if (local.get $coloured)
          (then
            (i32.store (local.get $o) (i32.const 0x6d305b1b)) ;; ESC [ 0 m, little-endian
            (local.set $o (i32.add (local.get $o) (i32.const 4)))))
        (i32.store8 (local.get $o) (i32.const 10))
        (local.set $o (i32.add (local.get $o) (i32.const 1)))
        (local.set $s (i32.add (local.get $s) (i32.const 1)))
        (br $lines)))
    (global.set $next (local.get $s))
    (i32.sub (local.get $o) (local.get $out))))
