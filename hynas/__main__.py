from hynas.cli import main

main()
