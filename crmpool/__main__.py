from crmpool.cli import main

main()
