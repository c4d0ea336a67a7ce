[
  inputs: ["{mix,.formatter}.exs", "{config,lib,test,bench,examples}/**/*.{ex,exs}"],
  locals_without_parens: [
    compile_target: 1,
    optimize: 1,
    precision: 1,
    conservation: 1,
    space: 1,
    field: 2,
    field: 3,
    conserves: 1,
    defagent: 1,
    defagent: 2,
    defsystem: 2,
    interaction: 2,
    potential: 2
  ]
]
