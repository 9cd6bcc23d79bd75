from nearline.cli import main

main()
